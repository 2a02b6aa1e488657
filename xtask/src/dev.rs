//! `cargo xtask dev`: the whole stack on loopback until Ctrl-C.

use std::time::Duration;

use anyhow::Context as _;
use local::emulators::{DEFAULT_DYNAMODB_PORT, DEFAULT_MOTO_PORT, DEFAULT_STRIPE_PORT, ensure_port_free};

use crate::cli::{self, Options};
use crate::stack::{self, Stack, StackOptions};

pub const DEFAULT_API_PORT: u16 = 3000;
/// The payment window (`PAYMENT_WINDOW_SECONDS`), as in the cloud: 30 minutes.
pub const DEFAULT_PAYMENT_WINDOW_SECS: u64 = 1800;
/// The dwell per delivery step (`DELIVERY_DWELL_SECONDS`): seconds, so that a paid order
/// can still be cancelled by hand and reaches `delivered` in well under a minute.
pub const DEFAULT_DELIVERY_DWELL_SECS: u64 = 6;

pub fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut opts = Options::new("dev", args);
    let port = opts.number("--port")?.unwrap_or(DEFAULT_API_PORT);
    let moto_port = opts.number("--moto-port")?.unwrap_or(DEFAULT_MOTO_PORT);
    let dynamodb_port = opts.number("--dynamodb-port")?.unwrap_or(DEFAULT_DYNAMODB_PORT);
    let stripe_port = opts.number("--stripe-port")?.unwrap_or(DEFAULT_STRIPE_PORT);
    let quiet = opts.flag("--quiet");
    let max_instances = opts.number::<usize>("--max-instances")?.unwrap_or(local::alb::DEFAULT_MAX_INSTANCES);
    let bin_dir = opts.value("--bin-dir")?.map(std::path::PathBuf::from);
    let payment_window = opts.number::<u64>("--payment-window")?.unwrap_or(DEFAULT_PAYMENT_WINDOW_SECS);
    let schedule_every =
        opts.number::<u64>("--schedule-every")?.map_or(stack::DEFAULT_SCHEDULE_EVERY, Duration::from_secs);
    let delivery_dwell = opts.number::<u64>("--delivery-dwell")?.unwrap_or(DEFAULT_DELIVERY_DWELL_SECS);
    opts.finish()?;
    if payment_window == 0 {
        anyhow::bail!("`cargo xtask dev`: --payment-window takes a number of seconds above 0");
    }
    if max_instances == 0 {
        anyhow::bail!("`cargo xtask dev`: --max-instances takes a number of processes above 0");
    }
    if delivery_dwell == 0 {
        anyhow::bail!("`cargo xtask dev`: --delivery-dwell takes a number of seconds above 0");
    }
    let root = crate::project_root();

    // Fail on a busy port now, not after minutes of installing and building.
    ensure_port_free(port, "the API (local ALB)", Some("--port"))?;
    ensure_port_free(moto_port, "moto", Some("--moto-port"))?;
    ensure_port_free(dynamodb_port, "dynamodb-local", Some("--dynamodb-port"))?;
    ensure_port_free(stripe_port, "localstripe", Some("--stripe-port"))?;

    let venv = local::venv::ensure_emulators(&root)?;
    local::dynamodb_local::ensure_installed()?;
    let bin_dir = match bin_dir {
        // Prebuilt binaries (a release build, `cargo lambda build` output, …): no build.
        Some(dir) => std::path::absolute(&dir).with_context(|| format!("bad --bin-dir {}", dir.display()))?,
        None => cli::build_functions(&root)?,
    };
    let stack_opts = StackOptions {
        alb_port: Some(port),
        moto_port: Some(moto_port),
        dynamodb_port: Some(dynamodb_port),
        stripe_port: Some(stripe_port),
        port_flags: true,
        bin_dir,
        log_dir: root.join(".local").join("logs"),
        echo_logs: !quiet,
        access_log: true,
        // 0 turns the scheduled functions off.
        schedule_every: (!schedule_every.is_zero()).then_some(schedule_every),
        payment_window: Some(Duration::from_secs(payment_window)),
        delivery_dwell: Some(Duration::from_secs(delivery_dwell)),
        functions_dynamodb_url: None,
        functions_stripe_url: None,
        max_instances,
        stripe_state_file: None,
    };

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        // A stack file from an earlier run describes ports and pools that are gone.
        let _ = std::fs::remove_file(stack::stack_file(&root));
        let mut stack = Stack::up(&venv, &stack_opts).await?;
        let file = stack::stack_file(&root);
        stack::write_stack_file(&file, &stack.info)?;
        print_next_steps(&stack, &file, &stack_opts);

        let outcome = wait_for_stop(&mut stack).await;
        eprintln!("\nxtask: stopping …");
        let _ = std::fs::remove_file(&file);
        stack.down().await;
        eprintln!("xtask: stopped");
        outcome
    })
}

/// Until Ctrl-C or SIGTERM (Ok), or an emulator dies (Err).
async fn wait_for_stop(stack: &mut Stack) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = tick.tick() => stack.check()?,
        }
    }
}

fn print_next_steps(stack: &Stack, file: &std::path::Path, opts: &StackOptions) {
    let api = &stack.info.api_url;
    let users = &stack.info.users;
    let scheduled = match opts.schedule_every {
        Some(every) => stack::SCHEDULED_FUNCTIONS
            .iter()
            .map(|(f, own)| format!("{f} every {} s", own.unwrap_or(every).as_secs()))
            .collect::<Vec<_>>()
            .join(", "),
        None => "off (--schedule-every 0)".to_owned(),
    };
    let window = opts.payment_window.map_or(DEFAULT_PAYMENT_WINDOW_SECS, |w| w.as_secs());
    let dwell = opts.delivery_dwell.map_or(DEFAULT_DELIVERY_DWELL_SECS, |d| d.as_secs());
    println!(
        "
Makers Market is running locally.

  API          {api}
  AWS (moto)   {aws}   (dashboard: {aws}/moto-api/)
  DynamoDB     {dynamodb}   (DynamoDB Local; it listens on ALL interfaces, not only loopback)
  Stripe       {stripe}
  stack        {file}
  logs         {logs}/<function>.log
  scheduled    {scheduled}; unpaid orders expire after {window} s;
               paid orders move one delivery step every {dwell} s
  events       the table's stream → {publisher} → EventBridge bus `{bus}` (moto); batches given up on: SQS `{failures}`

Demo users (password {password}): customer `{customer}`, maker `{maker}`, admin `{admin}`.

Try:
  curl -s {api}/health
  curl -s '{api}/products?limit=5'
  TOKEN=$(cargo xtask token maker)
  curl -s -H \"Authorization: Bearer $TOKEN\" {api}/me
  curl -s -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\
       -d '{{\"title\":\"Blue mug\",\"description\":\"Stoneware\",\"price_cents\":2400,\"stock\":5,\"category\":\"ceramics\"}}' \\
       {api}/products
  cargo xtask pay <order id>     # pay an order at localstripe (README: \"An order, paid and cancelled\")
  cargo xtask mail               # the emails sent so far; each also in .local/mail/<id>.html

Press Ctrl-C to stop everything.
",
        aws = stack.info.aws_endpoint_url,
        dynamodb = stack.info.dynamodb_endpoint_url,
        stripe = stack.info.stripe.api_base,
        file = file.display(),
        logs = opts.log_dir.display(),
        publisher = stack::STREAM_FUNCTION,
        bus = stack.info.event_bus_name,
        failures = stack::STREAM_FAILURE_QUEUE,
        password = users.maker.password,
        customer = users.customer.username,
        maker = users.maker.username,
        admin = users.admin.username,
    );
}
