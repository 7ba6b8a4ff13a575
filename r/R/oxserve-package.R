#' oxserve: serve R models from a Rust server inside the R process
#'
#' [serve()] serves any R object with a `predict` method over the V2 (Open Inference) REST and
#' gRPC protocols, Seldon Core v1 and KServe v1; [serve_file()] serves a Seldon Core R model
#' file unchanged. The server runs on background threads; R is single-threaded, so every call
#' into the model is queued to R's main thread, which `serve()` keeps servicing until Ctrl-C or
#' SIGTERM. Concurrent requests are batched into one call when `max_batch_size` is above 1.
#'
#' @keywords internal
"_PACKAGE"

# The routines of the Rust library (bindings/r), registered by useDynLib in NAMESPACE.
# serve_models() returns NULL, or the message of a start-up or serving failure; parse_json()
# returns list(value =) or list(error =).
serve_models <- function(models, options) .Call(wrap__serve_models, models, options)
parse_json <- function(text) .Call(wrap__parse_json, text)
