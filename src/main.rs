//! The `tfdrift` command line.

fn main() {
    println!("tfdrift");
}
