//! `cargo xtask test`: everything CI checks, each step on fresh emulators on free ports.
//!
//! 1. **lint** — `cfn-lint template.yaml` and `sam validate --lint` (tools venv), and
//!    `checkov` on the template (its own venv): zero failed checks; every skip is inline in
//!    its resource's `Metadata` with the reason (`local/tests/template_checkov.rs`).
//! 2. **api** — the full local stack (provisioned and seeded, like `dev`), fuzzed by
//!    schemathesis against `openapi.yaml` with a maker's access token.
//!    Before fuzzing, it checks that the functions' DynamoDB is DynamoDB Local, not moto.
//! 3. **browser** — Playwright (`browser/`) driving Debian's Chromium through the web shop
//!    on a fresh local stack: journeys, keyboard use, axe, screenshots at 360 and 1280 px.
//! 4. **soak** — `cargo xtask soak` in its short form (1 minute of traffic, each fault
//!    once, held about 4 s) on a fresh local stack, with the debug binaries the api step
//!    built: a release build of the functions would add many minutes on 2 cores, and the
//!    step checks invariants under faults, not speed (`cargo xtask soak` measures that).
//! 5. **rust** — the workspace's tests against a fresh DynamoDB Local
//!    (`MM_TEST_DYNAMODB_ENDPOINT`), moto (`MM_TEST_AWS_ENDPOINT`) and localstripe
//!    (`MM_TEST_STRIPE_API_BASE`); tests create their own uniquely named tables, pools and
//!    intents in them. Doc tests, then
//!    `cargo nextest run` (or `cargo test` where nextest is missing).
//!
//! The Rust tests run last so that the output ends with the test runner's summary. A failing
//! step does not stop the later ones; the task fails at the end, naming the failed steps.
//! Everything a step starts is stopped when the step ends, failed or not.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use local::emulators::{self, EmulatorOptions};
use local::venv::Venv;

use crate::cli::{self, Options};
use crate::stack::{self, Stack, StackOptions};

/// Checks schemathesis does not run, and why:
/// * `use_after_free` expects a resource to be gone after DELETE. `DELETE /products/{id}`
///   archives (API.md): the product stays readable by its maker, which is who the tests
///   authenticate as.
///
/// (`unsupported_method` runs: the ALB's default action answers a method a known path does
/// not serve with 405 and `Allow`, from the route table in `shared::routes`.)
const EXCLUDED_CHECKS: &str = "use_after_free";

const RUST_STEP: &str = "Rust tests";
const DEFAULT_MAX_EXAMPLES: u32 = 50;
/// Fixed so that CI is reproducible; pass `--seed` to explore.
const DEFAULT_SEED: u64 = 20_261_126;
const SCHEMATHESIS_TIMEOUT: Duration = Duration::from_secs(20 * 60);

pub fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut opts = Options::new("test", args);
    let skip_lint = opts.flag("--skip-lint");
    let skip_api = opts.flag("--skip-api");
    let skip_rust = opts.flag("--skip-rust");
    let skip_browser = opts.flag("--skip-browser");
    let skip_soak = opts.flag("--skip-soak");
    let max_examples = opts.number("--max-examples")?.unwrap_or(DEFAULT_MAX_EXAMPLES);
    let seed = opts.number("--seed")?.unwrap_or(DEFAULT_SEED);
    let max_instances = opts.number::<usize>("--max-instances")?.unwrap_or(local::alb::DEFAULT_MAX_INSTANCES).max(1);
    // Test name filters, handed to nextest (`cargo xtask test --skip-lint --skip-api delivery`).
    let filters = opts.positional();
    opts.finish()?;
    let root = crate::project_root();
    let work_dir = root.join(".local").join("test");

    let venv = local::venv::ensure_emulators(&root)?;
    if !(skip_api && skip_rust && skip_browser && skip_soak) {
        local::dynamodb_local::ensure_installed()?;
    }
    let tools = if skip_lint { None } else { Some(local::venv::ensure_tools(&root)?) };
    let checkov = if skip_lint { None } else { Some(local::venv::ensure_checkov(&root)?) };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;

    let mut failed: Vec<String> = Vec::new();
    let mut step = |name: &str, result: anyhow::Result<()>| match result {
        // Nothing after the Rust tests' own summary, which CI reads as the closing line.
        Ok(()) if name == RUST_STEP => {}
        Ok(()) => eprintln!("xtask: ✔ {name}"),
        Err(e) => {
            eprintln!("xtask: ✘ {name}: {e:#}");
            failed.push(name.to_owned());
        }
    };

    if let Some(tools) = &tools {
        heading("lint: cfn-lint template.yaml");
        step("cfn-lint", cfn_lint(&root, tools));
        heading("lint: sam validate --lint");
        step("sam validate", sam_validate(&root, tools));
    }
    if let Some(checkov_venv) = &checkov {
        heading("lint: checkov template.yaml");
        step("checkov", checkov_template(&root, checkov_venv));
    }
    if !skip_api {
        heading("api: schemathesis against openapi.yaml on the local stack");
        step(
            "API tests (schemathesis)",
            runtime.block_on(api_tests(&root, &venv, &work_dir, max_examples, seed, max_instances)),
        );
    }
    if !skip_browser {
        heading("browser: Playwright and Debian's Chromium through the web shop on the local stack");
        step("browser tests", runtime.block_on(crate::browser::browser_tests(&root, &venv, &work_dir, max_instances)));
    }
    if !skip_soak {
        heading("soak: 1 minute of traffic through the local stack under faults");
        step("soak", runtime.block_on(soak(&root, &venv, &work_dir)));
    }
    if !skip_rust {
        heading("rust: workspace tests against DynamoDB Local and moto");
        step(RUST_STEP, runtime.block_on(rust_tests(&venv, &work_dir, &filters)));
    }

    if failed.is_empty() { Ok(()) } else { bail!("failed: {} (details above)", failed.join(", ")) }
}

fn heading(text: &str) {
    eprintln!("\n==> {text}");
}

fn cfn_lint(root: &Path, tools: &Venv) -> anyhow::Result<()> {
    let template = template(root)?;
    let mut cmd = Command::new(tools.bin("cfn-lint"));
    cmd.arg(template).current_dir(root).env("PATH", tools.path_env());
    cli::run(&mut cmd, "cfn-lint")
}

fn sam_validate(root: &Path, tools: &Venv) -> anyhow::Result<()> {
    let template = template(root)?;
    let mut cmd = Command::new(tools.bin("sam"));
    cmd.args(["validate", "--lint", "--region", stack::REGION, "--template-file"])
        .arg(template)
        .current_dir(root)
        .env("PATH", tools.path_env())
        // No telemetry or update checks: only package registries are reachable.
        .env("SAM_CLI_TELEMETRY", "0")
        .env("SAM_CLI_DISABLE_UPDATE_CHECK", "1");
    cli::run(&mut cmd, "sam validate --lint")
}

/// checkov's CloudFormation checks; offline (`--skip-download`: only package registries are
/// reachable), so skips name check ids (`CKV_AWS_…`), not platform ids.
fn checkov_template(root: &Path, venv: &Venv) -> anyhow::Result<()> {
    let template = template(root)?;
    let mut cmd = Command::new(venv.bin("checkov"));
    cmd.arg("--file")
        .arg(template)
        .args(["--framework", "cloudformation", "--skip-download", "--compact", "--quiet"])
        .current_dir(root)
        .env("PATH", venv.path_env());
    cli::run(&mut cmd, "checkov")
}

fn template(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    let path = root.join("template.yaml");
    if !path.is_file() {
        bail!("{} is missing", path.display());
    }
    Ok(path)
}

/// The soak's CI form, on the debug binaries (see the module's notes).
async fn soak(root: &Path, venv: &Venv, work_dir: &Path) -> anyhow::Result<()> {
    let bin_dir = tokio::task::block_in_place(|| cli::build_functions(root))?;
    let report = crate::soak::soak(venv, &bin_dir, &work_dir.join("soak"), &crate::soak::Settings::ci()).await?;
    let path = work_dir.join("soak").join("report.md");
    std::fs::write(&path, &report.markdown).with_context(|| format!("writing {}", path.display()))?;
    if report.failed.is_empty() { Ok(()) } else { bail!("{} (report in {})", report.failed.join("; "), path.display()) }
}

async fn api_tests(
    root: &Path,
    venv: &Venv,
    work_dir: &Path,
    max_examples: u32,
    seed: u64,
    max_instances: usize,
) -> anyhow::Result<()> {
    let spec = root.join("openapi.yaml");
    if !spec.is_file() {
        bail!("{} is missing", spec.display());
    }
    let bin_dir = cli::build_functions(root)?;
    let log_dir = work_dir.join("logs");
    let stack =
        Stack::up(venv, &StackOptions { max_instances, ..StackOptions::on_free_ports(bin_dir, log_dir.clone()) })
            .await?;
    eprintln!("xtask: stack up at {} (function logs in {})", stack.info.api_url, log_dir.display());
    if let Err(e) = functions_use_dynamodb_local(&stack).await {
        stack.down().await;
        return Err(e);
    }
    let outcome = fuzz(&stack, venv, &spec, work_dir, max_examples, seed).await;
    stack.down().await;
    outcome
}

/// The seeded table is on DynamoDB Local and not on moto, and the functions behind the ALB
/// list its products: so their DynamoDB is DynamoDB Local (`AWS_ENDPOINT_URL_DYNAMODB`).
async fn functions_use_dynamodb_local(stack: &Stack) -> anyhow::Result<()> {
    let table = &stack.info.table_name;
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.aws);
    dynamodb.describe_table().table_name(table).send().await.with_context(|| {
        format!("the table {table} is not on DynamoDB Local ({})", stack.info.dynamodb_endpoint_url)
    })?;
    let moto = aws_sdk_dynamodb::Client::new(
        &local::provision::sdk_config(&stack.info.aws_endpoint_url, &stack.info.region).await,
    );
    let on_moto = moto.list_tables().send().await.context("listing moto's tables")?;
    if !on_moto.table_names().is_empty() {
        bail!("moto has DynamoDB tables ({:?}): something provisioned DynamoDB on moto", on_moto.table_names());
    }
    let port = stack.alb.addr().port();
    let status = emulators::http_status(port, "/products?limit=1").await.context("GET /products")?;
    if status != 200 {
        bail!("GET /products answered {status}, not 200: the functions do not read the table on DynamoDB Local");
    }
    eprintln!("xtask: ✔ the functions' DynamoDB is DynamoDB Local ({})", stack.info.dynamodb_endpoint_url);
    Ok(())
}

async fn fuzz(
    stack: &Stack,
    venv: &Venv,
    spec: &Path,
    work_dir: &Path,
    max_examples: u32,
    seed: u64,
) -> anyhow::Result<()> {
    let stack_file = work_dir.join("stack.json");
    stack::write_stack_file(&stack_file, &stack.info)?;
    let maker = &stack.info.users.maker;
    let token = local::cognito::access_token(&stack.aws, &stack.info.cognito, &maker.username, &maker.password)
        .await
        .context("getting the demo maker's access token")?;

    let report_dir = work_dir.join("schemathesis");
    let mut cmd = tokio::process::Command::new(venv.bin("schemathesis"));
    cmd.arg("--no-color")
        .arg("--config-file")
        .arg(spec.with_file_name("schemathesis.toml"))
        .arg("run")
        .arg(spec)
        .args(["--url", &stack.info.api_url])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "all", "--exclude-checks", EXCLUDED_CHECKS])
        .args(["--max-examples", &max_examples.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--workers", "2", "--request-timeout", "15"])
        .args(["--generation-database", "none"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&report_dir)
        .current_dir(work_dir)
        .env("PATH", venv.path_env())
        .kill_on_drop(true);
    eprintln!(
        "xtask: schemathesis run {} --url {} --checks all --exclude-checks {EXCLUDED_CHECKS} --max-examples {max_examples} --seed {seed}",
        spec.display(),
        stack.info.api_url
    );
    let status = match tokio::time::timeout(SCHEMATHESIS_TIMEOUT, cmd.status()).await {
        Err(_) => bail!("schemathesis did not finish within {SCHEMATHESIS_TIMEOUT:?}"),
        Ok(status) => status.context("cannot start schemathesis")?,
    };
    if !status.success() {
        bail!(
            "schemathesis found problems ({status}); report in {}, function logs in {}",
            report_dir.display(),
            work_dir.join("logs").display()
        );
    }
    Ok(())
}

async fn rust_tests(venv: &Venv, work_dir: &Path, filters: &[String]) -> anyhow::Result<()> {
    let opts = EmulatorOptions::new(None, work_dir.join("logs"));
    let (moto, dynamodb, stripe) = tokio::try_join!(
        emulators::start_moto(venv, &opts),
        emulators::start_dynamodb_local(&opts),
        emulators::start_localstripe(venv, &opts)
    )?;
    let (endpoint, dynamodb_endpoint) = (moto.url(), dynamodb.url());
    // Where moto's Cognito writes its codes (tests read them as a user reads their email).
    let cognito_events = emulators::cognito_events_file(&opts);
    // `{api_base}v1/…`, as StripeSettings::api_base wants it.
    let stripe_api_base = format!("{}/", stripe.url());
    eprintln!(
        "xtask: MM_TEST_AWS_ENDPOINT={endpoint} MM_TEST_DYNAMODB_ENDPOINT={dynamodb_endpoint} MM_TEST_STRIPE_API_BASE={stripe_api_base}"
    );
    // Blocking waits on a worker thread of this runtime are fine: nothing else runs on it
    // but the emulator handles, which need no polling.
    let outcome = tokio::task::block_in_place(|| {
        run_cargo_tests(&endpoint, &dynamodb_endpoint, &stripe_api_base, &cognito_events, filters)
    });
    moto.stop().await;
    dynamodb.stop().await;
    stripe.stop().await;
    outcome
}

fn run_cargo_tests(
    endpoint: &str,
    dynamodb_endpoint: &str,
    stripe_api_base: &str,
    cognito_events: &Path,
    filters: &[String],
) -> anyhow::Result<()> {
    let with_env = |mut cmd: Command| {
        cmd.env("MM_TEST_AWS_ENDPOINT", endpoint)
            .env("MM_TEST_COGNITO_EVENTS", cognito_events)
            .env("MM_TEST_DYNAMODB_ENDPOINT", dynamodb_endpoint)
            .env("MM_TEST_STRIPE_API_BASE", stripe_api_base)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    };
    let has_nextest = cli::cargo()
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_nextest {
        eprintln!("xtask: cargo-nextest is not installed; using cargo test");
        let mut cmd = with_env(cli::cargo());
        cmd.args(["test", "--workspace", "--no-fail-fast"]).args(filters.iter().take(1));
        return cli::run(&mut cmd, "cargo test --workspace");
    }
    // Filtered runs are for a developer's loop: no doc tests then.
    let doc_result = if filters.is_empty() {
        let mut doc = with_env(cli::cargo());
        doc.args(["test", "--workspace", "--doc"]);
        cli::run(&mut doc, "cargo test --workspace --doc")
    } else {
        Ok(())
    };
    let mut nextest = with_env(cli::cargo());
    nextest.args(["nextest", "run", "--workspace", "--no-fail-fast"]).args(filters);
    let nextest_result = cli::run(&mut nextest, "cargo nextest run --workspace");
    match (doc_result, nextest_result) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
        (Err(a), Err(b)) => bail!("{a:#}; {b:#}"),
    }
}
