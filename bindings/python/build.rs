//! Test binaries of this crate embed CPython. Without a run path to the interpreter's library
//! folder the loader may pick another libpython on the system (Debian's), whose `sys.path`
//! lacks the virtual environment's packages; the extension module itself links no libpython.
fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
}
