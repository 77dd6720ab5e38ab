//! Discovery, reporting and casework over HTTP, on both databases, with the
//! accounts of each role: a teacher's report of suspected abuse in a
//! community of 长桥街道 is routed there as an emergency, accepted, visited
//! in time, assessed, planned, approved, placed, reviewed and closed; the
//! teacher sees only "closed"; another street and another district cannot
//! find the case; a report left unacknowledged is overdue and escalated
//! when the clock moves on.

use serde_json::{json, Value};
use shouhu_e2e::{Answer, TestServer, OTHER_SLUG};
use shouhu_kernel::Clock;

const CREATE_REPORT: &str = "mutation($i: CreateReportInput!) { createReport(input: $i) { \
    id receipt level routingState routedUnitId status } }";

const CASE_FIELDS: &str = "id number state version unitId planState closureOutcome \
    closurePending allowedTransitions";

fn case_query() -> String {
    format!("query($id: ID!) {{ case(id: $id) {{ {CASE_FIELDS} }} }}")
}

/// Runs `mutation { <field>(…) { CASE_FIELDS } }` and returns the answer.
async fn case_op(s: &TestServer, token: &str, op: &str, args: &str, vars: Value) -> Answer {
    let q = format!("mutation{args} {{ {op} {{ {CASE_FIELDS} }} }}");
    s.gql(Some(token), &q, vars).await
}

fn version(a: &Answer, op: &str) -> i64 {
    a.data()[op]["version"].as_i64().expect("version")
}

const TRANSITION: &str = "($id: ID!, $v: Int!, $to: CaseState!)";

async fn transition(s: &TestServer, token: &str, id: &str, v: i64, to: &str) -> Answer {
    case_op(
        s,
        token,
        "transitionCase(id: $id, version: $v, to: $to)",
        TRANSITION,
        json!({ "id": id, "v": v, "to": to }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_teachers_report_to_a_closed_case() {
    for s in TestServer::all().await {
        let kind = s.kind();
        let teacher = s.login("wuzhong", "teacher").await;
        let centre = s.login("wuzhong", "centre").await;
        let changqiao = s.login("wuzhong", "changqiao").await;
        let yuexi = s.login("wuzhong", "yuexi").await;
        let hotline = s.login("wuzhong", "hotline").await;
        let other_admin = s.login(OTHER_SLUG, "admin").await;
        let other_officer = s.login(OTHER_SLUG, "officer").await;
        let street = s.unit_id("wuzhong", "320506001").await;
        let community = s.unit_id("wuzhong", "320506001001").await;

        // The teacher reports suspected sexual abuse of a pupil.
        let a = s
            .gql(
                Some(&teacher),
                CREATE_REPORT,
                json!({ "i": {
                    "categories": ["SEXUAL_ABUSE"],
                    "description": "学生小丽身上多处淤青，称继父对其有不当行为",
                    "placeUnitId": community,
                    "childDescription": "长桥中心小学四年级女生",
                }}),
            )
            .await;
        let report = a.data()["createReport"].clone();
        let report_id = report["id"].as_str().expect("report id").to_owned();
        assert_eq!(report["level"], "EMERGENCY", "{kind}");
        assert_eq!(report["routingState"], "ROUTED", "{kind}");
        assert_eq!(
            report["routedUnitId"],
            street.as_str(),
            "{kind}: routed to 长桥街道"
        );
        assert_eq!(report["status"], "RECEIVED");

        // 长桥's officer is told at once; 越溪's is not and cannot see it.
        let inbox = "{ inbox { kind reportId } }";
        let a = s.gql(Some(&changqiao), inbox, json!({})).await;
        assert!(
            a.data()["inbox"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["reportId"] == report_id.as_str() && n["kind"] == "emergency_report"),
            "{kind}: {}",
            a.body
        );
        let a = s.gql(Some(&yuexi), inbox, json!({})).await;
        assert!(!a.body.to_string().contains(&report_id), "{kind}");
        let read_report = "query($id: ID!) { report(id: $id) { id level } }";
        let a = s
            .gql(Some(&yuexi), read_report, json!({ "id": report_id }))
            .await;
        assert_eq!(a.code(), "NOT_FOUND", "{kind}");
        // The teacher sees the status of their report, not the report.
        let mine = "{ myReports { receipt status } }";
        let a = s.gql(Some(&teacher), mine, json!({})).await;
        assert_eq!(a.data()["myReports"][0]["status"], "RECEIVED");
        assert_eq!(a.data()["myReports"][0]["receipt"], report["receipt"]);
        let a = s
            .gql(Some(&teacher), read_report, json!({ "id": report_id }))
            .await;
        assert_eq!(a.code(), "FORBIDDEN", "{kind}");
        // The reporter's identity needs its own permission.
        let who = "query($id: ID!) { report(id: $id) { reporter { userId } } }";
        let a = s
            .gql(Some(&changqiao), who, json!({ "id": report_id }))
            .await;
        assert_eq!(a.code(), "FORBIDDEN", "{kind}");
        let teacher_id = s
            .gql(Some(&teacher), "{ me { id } }", json!({}))
            .await
            .data()["me"]["id"]
            .clone();
        let a = s.gql(Some(&centre), who, json!({ "id": report_id })).await;
        assert_eq!(a.data()["report"]["reporter"]["userId"], teacher_id);

        // The centre accepts it into a new case of 长桥街道.
        s.clock.advance_minutes(20);
        let a = case_op(
            &s,
            &centre,
            "acceptReport(id: $id)",
            "($id: ID!)",
            json!({ "id": report_id }),
        )
        .await;
        let case = a.data()["acceptReport"].clone();
        let case_id = case["id"].as_str().unwrap().to_owned();
        assert_eq!(case["state"], "ACCEPTED");
        assert_eq!(case["unitId"], street.as_str());
        assert!(
            case["number"].as_str().unwrap().ends_with("-00001"),
            "{case}"
        );
        let a = s.gql(Some(&teacher), mine, json!({})).await;
        assert_eq!(a.data()["myReports"][0]["status"], "ACCEPTED");

        // The street visits within the 24-hour deadline.
        s.clock.advance_minutes(5 * 60);
        let now = chrono::DateTime::from_timestamp_millis(s.clock.now_ms()).unwrap();
        let a = s
            .gql(
                Some(&changqiao),
                "mutation($c: ID!, $i: HomeVisitInput!) { recordHomeVisit(caseId: $c, input: $i) \
                 { id safetyDecision visitors } }",
                json!({ "c": case_id, "i": {
                    "visitedAt": now.to_rfc3339(),
                    "visitors": ["POLICE", "STREET", "SOCIAL_WORKER"],
                    "seen": "儿童、母亲",
                    "observations": "儿童情绪低落，继父拒绝配合",
                    "safetyDecision": "REMOVE_CHILD",
                }}),
            )
            .await;
        assert_eq!(
            a.data()["recordHomeVisit"]["safetyDecision"],
            "REMOVE_CHILD"
        );
        let a = s
            .gql(
                Some(&centre),
                "query($id: ID!) { report(id: $id) { respondedAt acknowledgedAt \
                 responseDeadline } }",
                json!({ "id": report_id }),
            )
            .await;
        let r = &a.data()["report"];
        assert_eq!(r["responseDeadline"], "HOME_VISIT");
        assert!(
            !r["respondedAt"].is_null() && !r["acknowledgedAt"].is_null(),
            "{r}"
        );

        // The state machine, its refusals and the version check.
        let a = transition(&s, &changqiao, &case_id, 1, "MONITORING").await;
        assert_eq!(a.code(), "BAD_USER_INPUT", "{kind}");
        assert_eq!(a.field().as_deref(), Some("to"));
        let message = a.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("verifying, closed"), "{message}");
        let a = transition(&s, &changqiao, &case_id, 1, "VERIFYING").await;
        let v = version(&a, "transitionCase");
        assert_eq!(v, 2);
        let a = transition(&s, &changqiao, &case_id, 1, "ASSESSED").await;
        assert_eq!(a.code(), "CONFLICT", "{kind}: a stale version");
        let a = transition(&s, &changqiao, &case_id, v, "ASSESSED").await;
        assert_eq!(a.code(), "BAD_USER_INPUT", "{kind}: no assessment yet");

        // The assessment: improper guardianship, high risk.
        let a = s
            .gql(
                Some(&changqiao),
                "mutation($c: ID!, $i: AssessCaseInput!) { assessCase(caseId: $c, input: $i) \
                 { guardianship guardianshipLabel risk needs { domain level } } }",
                json!({ "c": case_id, "i": {
                    "guardianship": "IMPROPER", "risk": "HIGH",
                    "needs": [
                        { "domain": "SAFETY", "level": "URGENT" },
                        { "domain": "PSYCHOLOGICAL", "level": "URGENT" },
                        { "domain": "LEGAL", "level": "SOME" }
                    ],
                    "summary": "监护失当，存在持续侵害风险",
                }}),
            )
            .await;
        let asmt = &a.data()["assessCase"];
        assert_eq!(asmt["guardianship"], "IMPROPER");
        assert_eq!(asmt["guardianshipLabel"], "监护失当");
        assert_eq!(asmt["risk"], "HIGH");
        assert_eq!(asmt["needs"].as_array().unwrap().len(), 3);
        let a = transition(&s, &changqiao, &case_id, v, "ASSESSED").await;
        let v = version(&a, "transitionCase");

        // The plan: shelter, psychological and legal items, approved by the
        // centre only.
        for (category, who, due) in [
            ("SHELTER", "区未成年人保护中心", "2027-01-20"),
            ("PSYCHOLOGICAL", "心理咨询机构", "2027-02-15"),
            ("LEGAL_AID", "区法律援助中心", "2027-02-28"),
        ] {
            let a = s
                .gql(
                    Some(&changqiao),
                    "mutation($c: ID!, $i: AddPlanItemInput!) { addPlanItem(caseId: $c, \
                     input: $i) { id category status } }",
                    json!({ "c": case_id, "i": {
                        "category": category, "description": "帮扶事项",
                        "responsibleKind": "DEPARTMENT", "responsibleName": who,
                        "dueDate": due,
                    }}),
                )
                .await;
            assert_eq!(a.data()["addPlanItem"]["status"], "PLANNED");
        }
        let a = transition(&s, &changqiao, &case_id, v, "PLAN_ACTIVE").await;
        assert_eq!(a.code(), "BAD_USER_INPUT", "{kind}: plan not approved");
        let approve = "approvePlan(caseId: $id, version: $v)";
        let args = "($id: ID!, $v: Int!)";
        let a = case_op(
            &s,
            &changqiao,
            approve,
            args,
            json!({ "id": case_id, "v": v }),
        )
        .await;
        assert_eq!(a.code(), "FORBIDDEN", "{kind}: a street cannot approve");
        let a = case_op(&s, &centre, approve, args, json!({ "id": case_id, "v": v })).await;
        assert_eq!(a.data()["approvePlan"]["planState"], "APPROVED");
        let v = version(&a, "approvePlan");
        let a = transition(&s, &changqiao, &case_id, v, "PLAN_ACTIVE").await;
        let v = version(&a, "transitionCase");

        // The child is placed in the centre's shelter.
        let a = s
            .gql(
                Some(&centre),
                "mutation($c: ID!, $i: RecordPlacementInput!) { recordPlacement(caseId: $c, \
                 input: $i) { kind startDate school } }",
                json!({ "c": case_id, "i": {
                    "kind": "SHELTER", "place": "区未成年人救助保护中心",
                    "startDate": "2027-01-15", "school": "长桥中心小学",
                }}),
            )
            .await;
        assert_eq!(a.data()["recordPlacement"]["kind"], "SHELTER");

        // Notes: a confidential one is the centre's only.
        let note = "mutation($c: ID!, $b: String!, $conf: Boolean!) { addCaseNote(caseId: $c, \
                    body: $b, confidential: $conf) { id confidential } }";
        let a = s
            .gql(
                Some(&centre),
                note,
                json!({ "c": case_id, "b": "公安已立案", "conf": true }),
            )
            .await;
        assert_eq!(a.data()["addCaseNote"]["confidential"], true);
        let a = s
            .gql(
                Some(&changqiao),
                note,
                json!({ "c": case_id, "b": "x", "conf": true }),
            )
            .await;
        assert_eq!(a.code(), "FORBIDDEN");
        s.gql(
            Some(&changqiao),
            note,
            json!({ "c": case_id, "b": "学校已安排心理老师", "conf": false }),
        )
        .await
        .data();
        let notes = "query($id: ID!) { case(id: $id) { notes { body confidential } } }";
        let a = s
            .gql(Some(&changqiao), notes, json!({ "id": case_id }))
            .await;
        assert_eq!(a.data()["case"]["notes"].as_array().unwrap().len(), 1);
        assert!(!a.body.to_string().contains("公安已立案"));
        let a = s.gql(Some(&centre), notes, json!({ "id": case_id })).await;
        assert_eq!(a.data()["case"]["notes"].as_array().unwrap().len(), 2);

        // The centre names the street's officer as lead, with itself on the
        // team; an officer of another street cannot be put on the case.
        let me = "{ me { id } }";
        let cq_id = s.gql(Some(&changqiao), me, json!({})).await.data()["me"]["id"].clone();
        let centre_id = s.gql(Some(&centre), me, json!({})).await.data()["me"]["id"].clone();
        let yx_id = s.gql(Some(&yuexi), me, json!({})).await.data()["me"]["id"].clone();
        let assign = "assignCase(id: $id, version: $v, leadUserId: $lead, workerIds: $w)";
        let assign_args = "($id: ID!, $v: Int!, $lead: ID!, $w: [ID!]!)";
        let a = case_op(
            &s,
            &changqiao,
            assign,
            assign_args,
            json!({ "id": case_id, "v": v, "lead": cq_id, "w": [] }),
        )
        .await;
        assert_eq!(a.code(), "FORBIDDEN", "{kind}: assigning is the centre's");
        let a = case_op(
            &s,
            &centre,
            assign,
            assign_args,
            json!({ "id": case_id, "v": v, "lead": cq_id, "w": [yx_id] }),
        )
        .await;
        assert_eq!(a.code(), "BAD_USER_INPUT", "{kind}: {}", a.body);
        assert_eq!(a.field().as_deref(), Some("workerIds.0"));
        let q = format!("mutation{assign_args} {{ {assign} {{ version leadUserId workerIds }} }}");
        let a = s
            .gql(
                Some(&centre),
                &q,
                json!({ "id": case_id, "v": v, "lead": cq_id, "w": [centre_id] }),
            )
            .await;
        assert_eq!(a.data()["assignCase"]["leadUserId"], cq_id);
        assert_eq!(a.data()["assignCase"]["workerIds"], json!([centre_id]));
        let v = version(&a, "assignCase");

        // Monitoring, then the closure review.
        let a = transition(&s, &changqiao, &case_id, v, "MONITORING").await;
        let v = version(&a, "transitionCase");
        let a = transition(&s, &changqiao, &case_id, v, "CLOSED").await;
        assert_eq!(a.code(), "BAD_USER_INPUT", "{kind}: closing needs a review");
        let a = case_op(
            &s,
            &changqiao,
            "requestClosure(caseId: $id, version: $v, outcome: RESOLVED, summary: $s)",
            "($id: ID!, $v: Int!, $s: String!)",
            json!({ "id": case_id, "v": v, "s": "儿童安全，监护已调整" }),
        )
        .await;
        assert_eq!(a.data()["requestClosure"]["closurePending"], "RESOLVED");
        let v = version(&a, "requestClosure");
        let review = "reviewClosure(caseId: $id, version: $v, approve: true)";
        let a = case_op(
            &s,
            &changqiao,
            review,
            args,
            json!({ "id": case_id, "v": v }),
        )
        .await;
        assert_eq!(a.code(), "FORBIDDEN");
        let a = case_op(&s, &centre, review, args, json!({ "id": case_id, "v": v })).await;
        assert_eq!(a.data()["reviewClosure"]["state"], "CLOSED");
        assert_eq!(a.data()["reviewClosure"]["closureOutcome"], "RESOLVED");

        // The teacher sees "closed" and nothing else.
        let a = s.gql(Some(&teacher), mine, json!({})).await;
        assert_eq!(
            a.data()["myReports"],
            json!([{ "receipt": report["receipt"], "status": "CLOSED" }])
        );
        let a = s
            .gql(Some(&teacher), &case_query(), json!({ "id": case_id }))
            .await;
        assert_eq!(a.code(), "FORBIDDEN", "{kind}");

        // Another street and another district cannot find the case at all.
        for token in [&yuexi, &other_admin, &other_officer] {
            let a = s
                .gql(Some(token), &case_query(), json!({ "id": case_id }))
                .await;
            assert_eq!(a.code(), "NOT_FOUND", "{kind}: {}", a.body);
            let a = s
                .gql(Some(token), read_report, json!({ "id": report_id }))
                .await;
            assert_eq!(a.code(), "NOT_FOUND", "{kind}: {}", a.body);
            let a = s
                .gql(
                    Some(token),
                    "{ cases(first: 50) { edges { node { id } } } }",
                    json!({}),
                )
                .await;
            assert!(!a.body.to_string().contains(&case_id), "{kind}");
        }
        let a = transition(&s, &other_officer, &case_id, v + 1, "REOPENED").await;
        assert_eq!(
            a.code(),
            "NOT_FOUND",
            "{kind}: a write from another district"
        );
        // 长桥 lists its case.
        let a = s
            .gql(
                Some(&changqiao),
                "{ cases(first: 50) { edges { node { id } } } }",
                json!({}),
            )
            .await;
        assert!(a.body.to_string().contains(&case_id));

        // The timeline holds everything, in order.
        let a = s
            .gql(
                Some(&centre),
                "query($id: ID!) { case(id: $id) { timeline { at kind } } }",
                json!({ "id": case_id }),
            )
            .await;
        let timeline = a.data()["case"]["timeline"].as_array().unwrap().clone();
        let kinds: Vec<&str> = timeline
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        for expected in [
            "report.received",
            "report.routed",
            "case.opened",
            "report.accepted",
            "case.visit",
            "case.assessment",
            "case.plan_approved",
            "case.placement",
            "case.assigned",
            "case.closure_requested",
            "case.closure_review",
        ] {
            assert!(
                kinds.contains(&expected),
                "{kind}: {expected} missing in {kinds:?}"
            );
        }
        let pos = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
        assert!(pos("report.received") < pos("case.visit"));
        assert!(pos("case.visit") < pos("case.closure_review"));
        let times: Vec<&str> = timeline.iter().map(|e| e["at"].as_str().unwrap()).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted, "{kind}: timeline out of order");

        // A second report, left unacknowledged past its deadline.
        let a = s
            .gql(
                Some(&hotline),
                CREATE_REPORT,
                json!({ "i": {
                    "channel": "HOTLINE", "categories": ["NEGLECT"],
                    "description": "邻居反映儿童长期独自在家",
                    "placeUnitId": community, "reporterName": "匿名来电",
                }}),
            )
            .await;
        let late = a.data()["createReport"].clone();
        let late_id = late["id"].as_str().unwrap().to_owned();
        assert_eq!(late["level"], "NORMAL");
        let overdue = "{ overdueReports { report { id } deadline escalatedAt } }";
        let listed = |a: &Answer, id: &str| -> Vec<Value> {
            a.data()["overdueReports"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o["report"]["id"] == id)
                .cloned()
                .collect()
        };
        let a = s.gql(Some(&centre), overdue, json!({})).await;
        assert!(listed(&a, &late_id).is_empty(), "{kind}: not late yet");
        s.clock.advance_minutes(25 * 60);
        // Sign-ins last eight hours; sign in again after the day that passed.
        let centre = s.login("wuzhong", "centre").await;
        let changqiao = s.login("wuzhong", "changqiao").await;
        let yuexi = s.login("wuzhong", "yuexi").await;
        let admin = s.login("wuzhong", "admin").await;
        let a = s.gql(Some(&centre), overdue, json!({})).await;
        let items = listed(&a, &late_id);
        assert_eq!(items.len(), 1, "{kind}: {}", a.body);
        assert_eq!(items[0]["deadline"], "ACKNOWLEDGE");
        assert!(items[0]["escalatedAt"].is_null());
        assert!(
            listed(&a, &report_id).is_empty(),
            "{kind}: the first met every deadline"
        );
        let a = s.gql(Some(&changqiao), overdue, json!({})).await;
        assert_eq!(
            listed(&a, &late_id).len(),
            1,
            "{kind}: the street sees its own"
        );
        let a = s.gql(Some(&yuexi), overdue, json!({})).await;
        assert!(listed(&a, &late_id).is_empty(), "{kind}");

        // Escalation: by a street officer refused, by the centre once.
        let esc = "mutation { escalateOverdue }";
        let a = s.gql(Some(&changqiao), esc, json!({})).await;
        assert_eq!(a.code(), "FORBIDDEN");
        let a = s.gql(Some(&centre), esc, json!({})).await;
        assert_eq!(a.data()["escalateOverdue"], 1, "{kind}");
        let a = s.gql(Some(&centre), esc, json!({})).await;
        assert_eq!(a.data()["escalateOverdue"], 0, "{kind}: escalated once");
        let a = s.gql(Some(&centre), overdue, json!({})).await;
        assert!(!listed(&a, &late_id)[0]["escalatedAt"].is_null());
        let a = s.gql(Some(&centre), inbox, json!({})).await;
        assert!(
            a.data()["inbox"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["reportId"] == late_id.as_str() && n["kind"] == "escalation"),
            "{kind}"
        );
        let a = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 50, action: \"report.escalate\") { edges { node { \
                 targetId actorKind } } } }",
                json!({}),
            )
            .await;
        let edges = a.data()["auditLog"]["edges"].as_array().unwrap().clone();
        assert_eq!(edges.len(), 1, "{kind}");
        assert_eq!(edges[0]["node"]["targetId"], late_id.as_str());
        let a = s
            .gql(
                Some(&centre),
                "query($id: ID!) { report(id: $id) { status acknowledgedAt } }",
                json!({ "id": late_id }),
            )
            .await;
        assert!(a.data()["report"]["acknowledgedAt"].is_null());
    }
}

const PUBLIC: &str = "mutation($d: String!, $i: PublicReportInput!) { \
    submitPublicReport(district: $d, input: $i) { receipt } }";

const PUBLIC_STATUS: &str = "query($d: String!, $r: String!) { \
    publicReportStatus(district: $d, receipt: $r) { receipt status } }";

/// The public form needs no account, is limited per address, and its
/// receipt shows the status and nothing else; a receipt of one district is
/// unknown in another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_form_gives_a_receipt_and_is_rate_limited() {
    for s in TestServer::all().await {
        let kind = s.kind();
        let community = s.unit_id("wuzhong", "320506001001").await;
        let input = json!({
            "categories": ["STREET_BEGGING"],
            "description": "地铁站附近有儿童乞讨",
            "placeUnitId": community,
        });
        let a = s
            .gql(None, PUBLIC, json!({ "d": "wuzhong", "i": input }))
            .await;
        let receipt = a.data()["submitPublicReport"]["receipt"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(receipt.starts_with('R') && receipt.len() == 13, "{receipt}");
        let a = s
            .gql(None, PUBLIC_STATUS, json!({ "d": "wuzhong", "r": receipt }))
            .await;
        assert_eq!(
            a.data()["publicReportStatus"],
            json!({ "receipt": receipt, "status": "RECEIVED" })
        );
        // The same receipt in another district, or a made-up one: not found.
        let a = s
            .gql(
                None,
                PUBLIC_STATUS,
                json!({ "d": OTHER_SLUG, "r": receipt }),
            )
            .await;
        assert_eq!(a.code(), "NOT_FOUND", "{kind}");
        let a = s
            .gql(
                None,
                PUBLIC_STATUS,
                json!({ "d": "wuzhong", "r": "R23456789ABCD" }),
            )
            .await;
        assert_eq!(a.code(), "NOT_FOUND", "{kind}");
        // It reached 长桥街道's queue like any other report.
        let changqiao = s.login("wuzhong", "changqiao").await;
        let a = s
            .gql(
                Some(&changqiao),
                "{ reports(first: 10) { edges { node { receipt channel routedUnitId } } } }",
                json!({}),
            )
            .await;
        let edges = a.data()["reports"]["edges"].as_array().unwrap().clone();
        let mine: Vec<&Value> = edges
            .iter()
            .filter(|e| e["node"]["receipt"] == receipt.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "{kind}");
        assert_eq!(mine[0]["node"]["channel"], "PUBLIC_FORM");
        // Four more from this address are accepted, the next is refused,
        // and an hour later the address may report again.
        for _ in 0..4 {
            s.gql(None, PUBLIC, json!({ "d": "wuzhong", "i": input }))
                .await
                .data();
        }
        let a = s
            .gql(None, PUBLIC, json!({ "d": "wuzhong", "i": input }))
            .await;
        assert_eq!(a.code(), "LIMIT_EXCEEDED", "{kind}");
        s.clock.advance_minutes(61);
        s.gql(None, PUBLIC, json!({ "d": "wuzhong", "i": input }))
            .await
            .data();
    }
}

/// A report whose routing did not finish stays in the retry queue (visible
/// to the centre, not to the street) until the retry routes it, notices
/// included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrouted_report_waits_in_the_retry_queue() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    for s in TestServer::all().await {
        let kind = s.kind();
        let teacher = s.login("wuzhong", "teacher").await;
        let centre = s.login("wuzhong", "centre").await;
        let changqiao = s.login("wuzhong", "changqiao").await;
        let community = s.unit_id("wuzhong", "320506001001").await;
        let a = s
            .gql(
                Some(&teacher),
                CREATE_REPORT,
                json!({ "i": {
                    "categories": ["SELF_HARM_RISK"], "description": "学生在作文中流露轻生念头",
                    "placeUnitId": community,
                }}),
            )
            .await;
        let id = a.data()["createReport"]["id"].as_str().unwrap().to_owned();
        // Put it back as if the process had stopped between storing and
        // routing: the row is committed, its routing is not.
        let tenant = shouhu_kernel::TenantId(
            s.app
                .services
                .tenancy
                .tenant_by_slug("wuzhong")
                .await
                .unwrap()
                .unwrap()
                .id,
        );
        let report_uuid = sea_orm::prelude::Uuid::parse_str(&id).unwrap();
        let tx = s.app.services.db.write(tenant).await.unwrap();
        let backend = tx.conn().get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "UPDATE reports SET routing_state = 'pending', routed_unit_id = NULL \
                 WHERE tenant_id = $1 AND id = $2"
            }
            _ => {
                "UPDATE reports SET routing_state = 'pending', routed_unit_id = NULL \
                 WHERE tenant_id = ? AND id = ?"
            }
        };
        let done = tx
            .conn()
            .execute(Statement::from_sql_and_values(
                backend,
                sql,
                [tenant.as_uuid().into(), report_uuid.into()],
            ))
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1, "{kind}");
        tx.commit().await.unwrap();
        let read = "query($id: ID!) { report(id: $id) { routingState routedUnitId } }";
        let a = s.gql(Some(&changqiao), read, json!({ "id": id })).await;
        assert_eq!(
            a.code(),
            "NOT_FOUND",
            "{kind}: not routed, not the street's yet"
        );
        let a = s.gql(Some(&centre), read, json!({ "id": id })).await;
        assert_eq!(a.data()["report"]["routingState"], "PENDING", "{kind}");
        let routed = s.app.services.casework.retry_routing(tenant).await.unwrap();
        assert_eq!(routed, 1, "{kind}");
        assert_eq!(
            s.app.services.casework.retry_routing(tenant).await.unwrap(),
            0,
            "{kind}: nothing left"
        );
        let a = s.gql(Some(&changqiao), read, json!({ "id": id })).await;
        assert_eq!(a.data()["report"]["routingState"], "ROUTED", "{kind}");
        let a = s
            .gql(Some(&changqiao), "{ inbox { reportId kind } }", json!({}))
            .await;
        let notices = a.data()["inbox"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["reportId"] == id.as_str())
            .count();
        // One notice from the first routing and one from the retry.
        assert_eq!(notices, 2, "{kind}: {}", a.body);
    }
}

/// Triage: the level is raised or lowered only with the permission and a
/// reason, which is kept, and the deadlines follow; a dismissed report is
/// "closed" for its reporter; a district's own deadlines apply to new
/// reports; a case can be opened from the registry, once per child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_settings_dismissal_and_cases_from_the_registry() {
    for s in TestServer::all().await {
        let kind = s.kind();
        let teacher = s.login("wuzhong", "teacher").await;
        let centre = s.login("wuzhong", "centre").await;
        let changqiao = s.login("wuzhong", "changqiao").await;
        let admin = s.login("wuzhong", "admin").await;
        let community = s.unit_id("wuzhong", "320506001001").await;
        let report = |cats: Value| {
            json!({ "i": { "categories": cats, "description": "情况说明",
                           "placeUnitId": community } })
        };
        let a = s
            .gql(
                Some(&teacher),
                CREATE_REPORT,
                report(json!(["DOMESTIC_VIOLENCE"])),
            )
            .await;
        let id = a.data()["createReport"]["id"].as_str().unwrap().to_owned();
        let level = "mutation($id: ID!, $l: Level!, $r: String!) { setReportLevel(id: $id, \
                     level: $l, reason: $r) { level levelReason responseDeadline } }";
        let a = s
            .gql(
                Some(&teacher),
                level,
                json!({ "id": id, "l": "NORMAL", "r": "x" }),
            )
            .await;
        assert_eq!(a.code(), "FORBIDDEN", "{kind}");
        let a = s
            .gql(
                Some(&changqiao),
                level,
                json!({ "id": id, "l": "NORMAL", "r": " " }),
            )
            .await;
        assert_eq!(a.code(), "BAD_USER_INPUT", "{kind}: a reason is required");
        assert_eq!(a.field().as_deref(), Some("reason"));
        let a = s
            .gql(
                Some(&changqiao),
                level,
                json!({ "id": id, "l": "NORMAL", "r": "电话核实为邻里纠纷，无暴力" }),
            )
            .await;
        let r = &a.data()["setReportLevel"];
        assert_eq!(r["level"], "NORMAL");
        assert_eq!(r["levelReason"], "电话核实为邻里纠纷，无暴力");
        assert_eq!(r["responseDeadline"], "VERIFY");
        // Dismissed: the reporter sees it closed.
        let a = s
            .gql(
                Some(&changqiao),
                "mutation($id: ID!) { dismissReport(id: $id, reason: \"无保护需要\") { status } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(a.data()["dismissReport"]["status"], "DISMISSED");
        let a = s
            .gql(Some(&teacher), "{ myReports { status } }", json!({}))
            .await;
        assert_eq!(a.data()["myReports"][0]["status"], "CLOSED", "{kind}");

        // The district shortens its acknowledgement deadline to 2 hours.
        let set = "mutation($i: DeadlineSettingsInput!) { setDeadlineSettings(input: $i) { \
                   ackMinutes } }";
        let settings = json!({ "i": { "emergencyAckMinutes": 30, "emergencyVisitMinutes": 720,
            "ackMinutes": 120, "verifyWorkingDays": 2, "reporterMinutes": 4320 } });
        let a = s.gql(Some(&centre), set, settings.clone()).await;
        assert_eq!(a.code(), "FORBIDDEN", "{kind}: sla:manage is the admin's");
        let a = s.gql(Some(&admin), set, settings).await;
        assert_eq!(a.data()["setDeadlineSettings"]["ackMinutes"], 120);
        let a = s
            .gql(
                Some(&teacher),
                CREATE_REPORT,
                report(json!(["OUT_OF_SCHOOL"])),
            )
            .await;
        let late = a.data()["createReport"]["id"].as_str().unwrap().to_owned();
        s.clock.advance_minutes(121);
        let a = s
            .gql(
                Some(&centre),
                "{ overdueReports { report { id } deadline } }",
                json!({}),
            )
            .await;
        let hits: Vec<&Value> = a.data()["overdueReports"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["report"]["id"] == late.as_str())
            .collect();
        assert_eq!(hits.len(), 1, "{kind}: {}", a.body);
        assert_eq!(hits[0]["deadline"], "ACKNOWLEDGE");

        // A case opened from the registry belongs to the child's street.
        let a = s
            .gql(
                Some(&centre),
                "mutation($i: MinorInputObject!) { createMinor(input: $i) { id } }",
                json!({ "i": { "name": "李小华", "sex": "FEMALE", "birthDate": "2016-05-06",
                               "documentNumber": shouhu_e2e::resident_id("2016-05-06", 222),
                               "orgUnitId": community } }),
            )
            .await;
        let minor = a.data()["createMinor"]["id"].as_str().unwrap().to_owned();
        let open = "mutation($m: ID!) { openCase(minorId: $m, reason: \"台账排查\") { id \
                    unitId state } }";
        let a = s.gql(Some(&centre), open, json!({ "m": minor })).await;
        let street = s.unit_id("wuzhong", "320506001").await;
        assert_eq!(a.data()["openCase"]["unitId"], street.as_str(), "{kind}");
        assert_eq!(a.data()["openCase"]["state"], "ACCEPTED");
        let a = s.gql(Some(&centre), open, json!({ "m": minor })).await;
        assert_eq!(a.code(), "CONFLICT", "{kind}: one open case per child");
        let yuexi = s.login("wuzhong", "yuexi").await;
        let a = s.gql(Some(&yuexi), open, json!({ "m": minor })).await;
        assert_eq!(a.code(), "NOT_FOUND", "{kind}: another street's child");
    }
}

/// A report that gives only an address is routed by locality when the
/// address names one of the district's units, and to the centre's queue
/// when it names none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_routes_like_a_place() {
    for s in TestServer::all().await {
        let hotline = s.login("wuzhong", "hotline").await;
        let yuexi_street = s.unit_id("wuzhong", "320506003").await;
        let root = s.unit_id("wuzhong", "320506").await;
        for (address, expected) in [
            ("吴中区越溪街道某路3号", &yuexi_street),
            ("不记得门牌", &root),
        ] {
            let a = s
                .gql(
                    Some(&hotline),
                    CREATE_REPORT,
                    json!({ "i": {
                        "channel": "HOTLINE", "categories": ["NEGLECT"],
                        "description": "来电称儿童无人照看", "address": address,
                    }}),
                )
                .await;
            let report = a.data()["createReport"].clone();
            assert_eq!(report["routingState"], "ROUTED", "{}", s.kind());
            assert_eq!(report["routedUnitId"], expected.as_str(), "{address}");
        }
    }
}
