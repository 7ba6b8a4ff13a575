// Registers the routines of the Rust library (extendr generates R_init_oxserve_extendr).
void R_init_oxserve_extendr(void *dll);

void R_init_oxserve(void *dll) {
    R_init_oxserve_extendr(dll);
}
