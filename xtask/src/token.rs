//! `cargo xtask token <user>`: an access token for a demo user of the running `dev` stack,
//! alone on stdout, for `TOKEN=$(cargo xtask token maker)`.

use anyhow::{Context as _, bail};

use crate::cli::Options;
use crate::stack::{self, StackInfo};

pub fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut opts = Options::new("token", args);
    let positional = opts.positional();
    opts.finish()?;
    let [role] = positional.as_slice() else {
        bail!("usage: cargo xtask token <customer|maker|admin|other_maker>");
    };

    let root = crate::project_root();
    let info = stack::read_stack_file(&root)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let token = runtime.block_on(access_token(&info, role))?;
    println!("{token}");
    Ok(())
}

/// Signs in as the demo user `role` (customer, maker, admin, other_maker) of the stack
/// `info` describes.
pub async fn access_token(info: &StackInfo, role: &str) -> anyhow::Result<String> {
    let users = &info.users;
    let user = match role {
        "customer" => &users.customer,
        "maker" => &users.maker,
        "admin" => &users.admin,
        "other_maker" | "other-maker" => &users.other_maker,
        other => bail!("unknown demo user `{other}`: choose customer, maker, admin or other_maker"),
    };
    let port = info
        .aws_endpoint_url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
        .context("the stack file's aws_endpoint_url has no port")?;
    if local::emulators::http_status(port, "/moto-api/").await.is_err() {
        bail!(
            "moto does not answer at {}: is `cargo xtask dev` still running? (start it, then retry)",
            info.aws_endpoint_url
        );
    }
    let aws = local::provision::sdk_config(&info.aws_endpoint_url, &info.region).await;
    local::cognito::access_token(&aws, &info.cognito, &user.username, &user.password)
        .await
        .with_context(|| format!("signing in as `{}` failed", user.username))
}
