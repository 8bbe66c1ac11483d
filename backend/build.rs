//! The server carries the dashboard built into `dist/` (see `src/dashboard.rs`): rebuild
//! when it changes. The folder is made when missing, so that a debug build, which reads
//! the dashboard from it at run time, finds one built after it was compiled.

fn main() {
    let _ = std::fs::create_dir_all("../dist");
    println!("cargo:rerun-if-changed=../dist");
}
