#' Serve an R model over HTTP and gRPC
#'
#' Starts oxserve's Rust server on background threads and serves `model` until Ctrl-C or
#' SIGTERM, which drain in-flight requests first. The server answers the V2 (Open Inference)
#' protocol over REST (`POST /v2/models/<name>/infer`) and gRPC, Seldon Core v1
#' (`POST /api/v1.0/predictions`, `/predict`, ...) and KServe v1, with Prometheus metrics on
#' `/metrics`. R is single-threaded: every call into the model runs on R's main thread, which
#' `serve()` occupies while serving; the calls are queued there, and with `max_batch_size`
#' above 1 concurrent requests are stacked into one call.
#'
#' What a function receives as `newdata`:
#' - columnar inputs (several, or one of rank 1; each of shape `[N]` or `[N, 1]`): a data
#'   frame, one column per input, named after it (`BYTES` inputs are character columns);
#' - one input of rank 2 or more: its values as a matrix or array of its shape; a matrix with
#'   column names (Seldon's `data.names`) becomes a data frame;
#' - a Seldon `jsonData` payload: the parsed JSON (objects are named lists), `strData` a
#'   string, `binData` a raw vector.
#'
#' What it may return: a vector or factor (one output named `predict`; factors are sent as
#' their labels), a matrix (its column names are Seldon's `names`), a data frame (one output
#' per column for a columnar request, else one matrix), or a list (JSON, Seldon's `jsonData`).
#' Doubles are sent as `FP64`, integers as `INT32`, logicals as `BOOL`, characters as `BYTES`.
#'
#' An R error in the model answers 500 with its message, and serving goes on.
#'
#' @param model any R object; the first argument of every function below.
#' @param predict `function(model, newdata)`. By default the model's `predict` S3 method
#'   (`predict.glm` for a glm), which must exist.
#' @param transform_input,transform_output,route,send_feedback functions for the other roles
#'   of a graph unit (see [roles]); by default the model's S3 methods of those generics, when it
#'   has them.
#' @param name the model's name in URLs.
#' @param http_port,grpc_port ports to listen on; by default the environment variables
#'   `OXSERVE_HTTP_PORT` and `OXSERVE_GRPC_PORT`, else 8080 and 8081.
#' @param host the interface to listen on.
#' @param max_batch_size rows that concurrent requests may be stacked into for one call; 0 or 1
#'   turns batching off. The model must treat rows independently.
#' @param max_batch_time seconds a request may wait for others to join its batch.
#' @param max_queue_size requests that may wait before new ones are refused with 503 (0: 1024).
#' @param timeout seconds a caller waits for R before a 504 (0: no limit).
#' @param log_level the server's log level: `debug`, `info`, `warning` or `error`.
#' @param drain_timeout seconds in-flight requests may take after Ctrl-C or SIGTERM.
#' @return `NULL`, invisibly, once the server has drained.
#' @examples
#' \dontrun{
#' fit <- glm(am ~ wt + hp, data = mtcars, family = binomial)
#' serve(fit, predict = function(model, newdata) predict(model, newdata, type = "response"))
#' }
#' @export
serve <- function(model, predict = NULL, transform_input = NULL, transform_output = NULL,
                  route = NULL, send_feedback = NULL, name = "model", http_port = NULL,
                  grpc_port = NULL, host = "0.0.0.0", max_batch_size = 0L, max_batch_time = 0,
                  max_queue_size = 0L, timeout = 60, log_level = "info", drain_timeout = 30) {
  given <- list(
    predict = predict, transform_input = transform_input, transform_output = transform_output,
    route = route, send_feedback = send_feedback
  )
  functions <- resolve_functions(model, given, required = "predict", envir = parent.frame())
  settings <- scheduling(max_batch_size, max_batch_time, max_queue_size, timeout)
  entry <- model_entry(model, functions, name, settings, seldon = FALSE, envir = parent.frame())
  options <- server_options(host, http_port, grpc_port, log_level, drain_timeout)
  run_server(list(entry), options)
}

# The roles a model takes part in: the functions given, else its S3 methods. A role in
# `required` without either is a start-up error naming it.
resolve_functions <- function(model, given, required, envir) {
  functions <- list()
  for (role in names(given)) {
    f <- given[[role]]
    if (is.null(f)) f <- find_method(role, model, envir)
    if (!is.null(f) && !is.function(f)) {
      stop("`", role, "` must be a function, not ", class(f)[1], call. = FALSE)
    }
    if (is.null(f) && role %in% required) {
      stop(
        "no ", role, " function: the model (class ", paste(class(model), collapse = "/"),
        ") has no ", role, " method; pass ", role, " = function(model, newdata) ...",
        call. = FALSE
      )
    }
    functions[[role]] <- f
  }
  functions
}

# The S3 method of `generic` for `model`'s classes: defined in `envir` (or above it), or
# registered by a package (`predict.glm` in stats).
find_method <- function(generic, model, envir) {
  for (class in class(model)) {
    method <- get0(paste0(generic, ".", class), envir = envir, mode = "function")
    if (is.null(method)) method <- utils::getS3method(generic, class, optional = TRUE)
    if (!is.null(method)) return(method)
  }
  NULL
}

# The Rust scheduler's settings, under MLServer's names. R runs one call at a time, so a
# model has one instance.
scheduling <- function(max_batch_size, max_batch_time, max_queue_size, timeout) {
  list(
    max_batch_size = as.integer(max_batch_size), max_batch_time = as.numeric(max_batch_time),
    max_queue_size = as.integer(max_queue_size), timeout = as.numeric(timeout), instances = 1L
  )
}

server_options <- function(host, http_port, grpc_port, log_level, drain_timeout,
                           seldon_unit_id = NULL, seldon_unit_image = NULL) {
  port <- function(value, variable, default) {
    if (is.null(value)) value <- Sys.getenv(variable, default)
    as.integer(value)
  }
  list(
    host = host,
    http_port = port(http_port, "OXSERVE_HTTP_PORT", "8080"),
    grpc_port = port(grpc_port, "OXSERVE_GRPC_PORT", "8081"),
    max_request_size = 64 * 1024 * 1024,
    drain_timeout = as.numeric(drain_timeout),
    log_level = log_level,
    default_model = NULL,
    seldon_unit_id = seldon_unit_id,
    seldon_unit_image = seldon_unit_image
  )
}

# A tensor declaration of `metadata()`, in the V2 form the Rust library reads.
tensor_spec <- function(spec) {
  list(name = as.character(spec$name), datatype = as.character(spec$datatype), shape = I(as.numeric(spec$shape)))
}

# What the Rust library needs to serve one model: its metadata and settings, the operations it
# implements, and the dispatcher it calls on R's main thread.
model_entry <- function(model, functions, name, settings, seldon, envir) {
  declared <- list()
  describe <- find_method("metadata", model, envir)
  if (!is.null(describe)) declared <- describe(model)
  metadata <- list(
    name = name,
    platform = if (is.null(declared$platform)) "R" else declared$platform,
    versions = I(as.character(declared$versions)),
    inputs = lapply(declared$inputs, tensor_spec),
    outputs = lapply(declared$outputs, tensor_spec)
  )
  list(
    metadata = metadata, settings = settings, operations = names(functions),
    handler = dispatcher(model, functions, name, seldon)
  )
}

# The function the Rust library calls for every operation: it turns the message into the
# model's arguments, calls the model, and turns the result back into a message. It never
# raises: an R error becomes `list(error =, status =)` (400 for a request R cannot take, else
# 500) and an interrupt `interrupted = TRUE`, which stops the server as Ctrl-C does.
dispatcher <- function(model, functions, name, seldon) {
  force(model)
  force(functions)
  function(operation, message) {
    tryCatch(
      list(ok = run_operation(model, functions[[operation]], operation, message, seldon)),
      oxserve_bad_request = function(e) list(error = conditionMessage(e), status = 400L),
      error = function(e) {
        list(error = paste0("model '", name, "': ", operation, " failed: ", conditionMessage(e)), status = 500L)
      },
      interrupt = function(e) list(error = "R was interrupted", status = 503L, interrupted = TRUE)
    )
  }
}

run_operation <- function(model, f, operation, message, seldon) {
  if (operation == "send_feedback") {
    data <- function(m) if (is.null(m)) NULL else newdata_from_message(m, seldon)
    result <- f(model, data(message$request), message$reward, data(message$truth))
    return(list(tensors = result_tensors(result, NULL, FALSE, "feedback"), parameters = list()))
  }
  newdata <- newdata_from_message(message, seldon)
  result <- f(model, newdata)
  if (operation == "route") {
    if (!(is.numeric(result) && length(result) == 1L && !is.na(result) && result == round(result))) {
      stop("route must return one whole number, got ", deparse(result), call. = FALSE)
    }
    return(as.integer(result))
  }
  # A transform's lone output keeps the name of what it rewrote, so the next unit finds it.
  name <- if (operation == "predict") "predict" else message$tensors[[1]]$name
  result_message(result, message, seldon, name)
}

run_server <- function(entries, options) {
  failure <- serve_models(entries, options)
  if (!is.null(failure)) stop(failure, call. = FALSE)
  invisible(NULL)
}
