//! `shouhu demo generate`: synthetic minors for a district, written straight into the
//! database in batches or, with `--csv`, into a spreadsheet with the standard import
//! headers; and the few thousand minors `serve --demo` gives a new demo district.
//!
//! The generator itself (`shouhu_registry::generate`) is seeded and pure; this file only
//! drives it, shows progress and prints a summary. The summary counts rows, never shows them.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use shouhu_audit::Actor;
use shouhu_kernel::{ApiError, Principal, TenantId};
use shouhu_registry::generate::{write_csv_header, write_csv_row, Generator, SyntheticMinor};

use crate::app::Services;
use crate::error::ServerError;

/// Minors per transaction: large enough that a transaction's fixed costs vanish, small
/// enough that the progress bar moves and a failure loses little.
const BATCH: usize = 2_000;

/// The seed `serve --demo` uses, so that every demo shows the same children.
pub const DEMO_SEED: u64 = 2026;

/// How many minors `serve --demo` gives a new demo district.
pub const DEMO_MINORS: u64 = 3_000;

#[derive(Subcommand, Debug)]
pub enum DemoAction {
    /// Generate realistic, valid, reproducible synthetic minors for a district.
    Generate(GenerateArgs),
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The district's slug, e.g. wuzhong.
    #[arg(long)]
    pub tenant: String,
    /// How many minors to generate.
    #[arg(long)]
    pub minors: u64,
    /// The seed: the same seed on the same district gives the same minors.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the minors to this CSV file (UTF-8, standard Chinese import headers) instead
    /// of into the database.
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub minors: u64,
    pub in_difficulty: u64,
    pub without_document: u64,
    pub households: u64,
    pub elapsed: Duration,
}

impl Summary {
    fn count(&mut self, batch: &[SyntheticMinor], last_household: &mut Option<u64>) {
        for m in batch {
            self.minors += 1;
            self.in_difficulty += u64::from(!m.categories.is_empty());
            self.without_document += u64::from(m.document_number.is_none());
            if *last_household != Some(m.household) {
                self.households += 1;
                *last_household = Some(m.household);
            }
        }
    }

    fn rate(&self) -> f64 {
        self.minors as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    // The template is a constant, so it always parses; the default style stands in anyway.
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} minors \
         ({per_sec}, {eta} left)",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Generates `minors` minors into the district's database, in batches of [`BATCH`].
pub async fn into_database(
    services: &Services,
    tenant: TenantId,
    minors: u64,
    seed: u64,
    progress: &ProgressBar,
) -> Result<Summary, ApiError> {
    let started = Instant::now();
    let who = Principal::system(tenant);
    let actor = Actor::system("generate");
    let registry = &services.registry;
    let config = registry.synthetic_config(&who, seed).await?;
    if config.places.is_empty() {
        return Err(ApiError::bad_input(
            "tenant",
            "the district has no communities or villages to place minors in",
        ));
    }
    let taken = registry.registered_resident_ids(&who).await?;
    let mut writer = registry.synthetic_writer(&who, &actor, &config)?;
    let mut generator = Generator::new(config, taken);
    let mut summary = Summary::default();
    let mut last_household = None;
    while summary.minors < minors {
        let n = usize::try_from(minors - summary.minors)
            .unwrap_or(BATCH)
            .min(BATCH);
        let batch = generator.take_batch(n);
        writer.write(&batch).await?;
        summary.count(&batch, &mut last_household);
        progress.set_position(summary.minors);
    }
    writer.finish().await?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Writes `minors` minors of the district as CSV to `path`, without touching its records.
async fn into_csv(
    services: &Services,
    tenant: TenantId,
    args: &GenerateArgs,
    progress: &ProgressBar,
) -> Result<Summary, ServerError> {
    let started = Instant::now();
    let who = Principal::system(tenant);
    let config = services.registry.synthetic_config(&who, args.seed).await?;
    if config.places.is_empty() {
        return Err(ServerError::Usage(
            "the district has no communities or villages to place minors in".into(),
        ));
    }
    let places = config.places.clone();
    // The numbers the district already has stay free, so that importing the file adds
    // minors rather than updating registered ones.
    let taken = services.registry.registered_resident_ids(&who).await?;
    let mut generator = Generator::new(config, taken);
    let path = args.csv.clone().unwrap_or_default();
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
    // A byte order mark, so that Excel opens the UTF-8 file with its Chinese intact.
    file.write_all(b"\xEF\xBB\xBF")?;
    let mut out = csv::Writer::from_writer(file);
    let csv_error = |e: csv::Error| ServerError::Usage(format!("writing {}: {e}", path.display()));
    write_csv_header(&mut out).map_err(csv_error)?;
    let mut summary = Summary::default();
    let mut last_household = None;
    while summary.minors < args.minors {
        let n = usize::try_from(args.minors - summary.minors)
            .unwrap_or(BATCH)
            .min(BATCH);
        let batch = generator.take_batch(n);
        for m in &batch {
            write_csv_row(&mut out, m, &places).map_err(csv_error)?;
        }
        summary.count(&batch, &mut last_household);
        progress.set_position(summary.minors);
    }
    out.flush()?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Runs `shouhu demo …`.
pub async fn run(services: &Services, action: DemoAction) -> Result<(), ServerError> {
    let DemoAction::Generate(args) = action;
    let tenant = services
        .tenancy
        .tenant_by_slug(&args.tenant)
        .await?
        .map(|t| TenantId(t.id))
        .ok_or_else(|| ServerError::Usage(format!("no district with slug {}", args.tenant)))?;
    let progress = progress_bar(args.minors);
    let summary = match &args.csv {
        Some(_) => into_csv(services, tenant, &args, &progress).await,
        None => into_database(services, tenant, args.minors, args.seed, &progress)
            .await
            .map_err(ServerError::from),
    };
    progress.finish_and_clear();
    let summary = summary?;
    let target = match &args.csv {
        Some(path) => format!("into {}", path.display()),
        None => format!("into district {}", args.tenant),
    };
    println!(
        "generated {} minors in {} households {target} (seed {}): {} in difficulty, {} \
         without a document; {:.1} s, {:.0} minors/s",
        summary.minors,
        summary.households,
        args.seed,
        summary.in_difficulty,
        summary.without_document,
        summary.elapsed.as_secs_f64(),
        summary.rate()
    );
    Ok(())
}

/// The demo district's minors, for `serve --demo` on a district it has just created.
pub async fn populate_demo(services: &Services, tenant: TenantId) -> Result<Summary, ApiError> {
    populate(services, tenant, DEMO_MINORS, DEMO_SEED).await
}

/// Generates minors without a progress bar: for the demo and for tests.
pub async fn populate(
    services: &Services,
    tenant: TenantId,
    minors: u64,
    seed: u64,
) -> Result<Summary, ApiError> {
    into_database(services, tenant, minors, seed, &ProgressBar::hidden()).await
}
