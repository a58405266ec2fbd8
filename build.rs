//! Rebuild when embedded assets change: `include_dir!` does not notice new files on its own.

fn main() {
    println!("cargo:rerun-if-changed=assets");
    println!("cargo:rerun-if-changed=rules");
    println!("cargo:rerun-if-changed=config");
}
