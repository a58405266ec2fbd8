//! Rebuild when embedded assets change: `include_dir!` does not notice new files on its own.
//! Compiles Falco's legacy gRPC API (`proto/falco/*.proto`, our wire-compatible copy) with protox,
//! so no system `protoc` is needed; client and server are generated (tests run the server).
//! Also tfdrift's own team-mode API (`proto/tfdrift/v1/*.proto`, package `tfdrift.v1`), and
//! its server a second time (`OUT_DIR/api_server/`) with every message taken from the first
//! (`extern_path`) except `WatchEvent`, which the server sends pre-encoded
//! (`crate::api::watch::Encoded`): one encoding per event instead of one per watcher.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=assets");
    println!("cargo:rerun-if-changed=rules");
    println!("cargo:rerun-if-changed=config");
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(
        [
            "falco/outputs.proto",
            "falco/schema.proto",
            "falco/version.proto",
            "tfdrift/v1/daemon.proto",
        ],
        ["proto"],
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;

    let server_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("api_server");
    std::fs::create_dir_all(&server_dir)?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .out_dir(&server_dir)
        .extern_path(".tfdrift.v1.WatchEvent", "crate::api::watch::Encoded")
        .extern_path(".tfdrift.v1", "crate::api::proto")
        .compile_fds(protox::compile(["tfdrift/v1/daemon.proto"], ["proto"])?)?;
    Ok(())
}
