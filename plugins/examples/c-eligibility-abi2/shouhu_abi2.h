/*
 * shouhu_abi2.h - the record layouts of Shouhu's ABI 2 for
 * `assistance-eligibility` plugins, for C authors. docs/plugins.md
 * ("ABI 2: records") is the reference; this header only spells it out.
 *
 * stdin:  u32 header length | header (JSON) | u32 count | count x shouhu_minor
 * stdout: u32 header length | header (JSON) | u32 count | count x shouhu_decision
 *
 * Every integer is little-endian, as WebAssembly's memory is, so a record
 * can be read and written in place. The input header is ABI 1's input
 * without `minors` (abi, kind, asOf, programme, data); the output header
 * is {"reasons": [...], "inKind": [...]}, the texts the records refer to.
 */
#ifndef SHOUHU_ABI2_H
#define SHOUHU_ABI2_H

#include <stdint.h>

/* One minor: 8 bytes. */
typedef struct {
    uint8_t age;        /* whole years; SHOUHU_AGE_UNKNOWN when unknown */
    uint8_t sex;        /* SHOUHU_SEX_* */
    uint8_t economic;   /* SHOUHU_ECON_* */
    uint8_t disability; /* 0 none recorded, 1-4 for grades 1-4, 255 another text */
    uint32_t categories; /* bit SHOUHU_CAT_* set for each category */
} shouhu_minor;

/* One decision: 16 bytes, in the order of the minors. */
typedef struct {
    uint8_t eligible;  /* 0 or 1 */
    uint8_t benefit;   /* SHOUHU_BENEFIT_* */
    uint16_t in_kind;  /* SHOUHU_BENEFIT_IN_KIND: index in the header's inKind */
    uint32_t reasons;  /* bit i set: the header's reasons[i] applies */
    int64_t amount_cents; /* an amount per period: at least 0 */
} shouhu_decision;

_Static_assert(sizeof(shouhu_minor) == 8, "ABI 2 minors are 8 bytes");
_Static_assert(sizeof(shouhu_decision) == 16, "ABI 2 decisions are 16 bytes");

#define SHOUHU_AGE_UNKNOWN 255

#define SHOUHU_SEX_UNKNOWN 0
#define SHOUHU_SEX_MALE 1
#define SHOUHU_SEX_FEMALE 2

#define SHOUHU_ECON_UNKNOWN 0
#define SHOUHU_ECON_NONE 1
#define SHOUHU_ECON_DIBAO 2
#define SHOUHU_ECON_DIBAO_EDGE 3
#define SHOUHU_ECON_TEKUN 4

/* Category bits; new categories are only ever appended. */
#define SHOUHU_CAT_ORPHAN (1u << 0)
#define SHOUHU_CAT_ABANDONED (1u << 1)
#define SHOUHU_CAT_STREET_BEGGING (1u << 2)
#define SHOUHU_CAT_HIV (1u << 3)
#define SHOUHU_CAT_TRAFFICKED (1u << 4)
#define SHOUHU_CAT_PARENT_DETAINED (1u << 5)
#define SHOUHU_CAT_ABUSED (1u << 6)
#define SHOUHU_CAT_DE_FACTO_UNSUPPORTED (1u << 7)
#define SHOUHU_CAT_ILL_DISABLED_POOR (1u << 8)

#define SHOUHU_BENEFIT_NONE 0 /* the programme's own benefit applies */
#define SHOUHU_BENEFIT_ONCE 1
#define SHOUHU_BENEFIT_MONTH 2
#define SHOUHU_BENEFIT_QUARTER 3
#define SHOUHU_BENEFIT_YEAR 4
#define SHOUHU_BENEFIT_IN_KIND 5

#endif
