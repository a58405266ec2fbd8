//! Rebuild when embedded assets change: `include_dir!` does not notice new files on its own.
//! Compiles Falco's legacy gRPC API (`proto/falco/*.proto`, our wire-compatible copy) with protox,
//! so no system `protoc` is needed; client and server are generated (tests run the server).
//! Also tfdrift's own team-mode API (`proto/tfdrift/v1/*.proto`, package `tfdrift.v1`).

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
    Ok(())
}
