//! What each payctl command does.

use crate::cli::{Cli, Command, TopologyCommand};
use paygate::broker::definitions;
use paygate::broker::topology::Topology;
use paygate::runtime::database;
use std::io::Write;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate => {
            database::create_and_migrate(&cli.common).await?;
            println!("migrations applied");
        }
        Command::Topology(TopologyCommand::Definitions { out, vhost }) => {
            let topology = Topology::new(cli.common.topology_config())?;
            let json = definitions::render(&topology, &vhost);
            if out.as_os_str() == "-" {
                std::io::stdout().write_all(json.as_bytes())?;
            } else {
                std::fs::write(&out, json)?;
                eprintln!("wrote {}", out.display());
            }
        }
        Command::Demo(args) => crate::demo::run(&cli.common, &args).await?,
    }
    Ok(())
}
