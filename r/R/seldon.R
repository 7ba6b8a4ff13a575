#' Serve a Seldon Core R model file
#'
#' Runs a model written for Seldon Core's R wrapper unchanged: `file` defines
#' `initialise_seldon(params)`, which returns the model object, and S3 methods for its class:
#' `predict` (service type `MODEL`), `route` (`ROUTER`), `transform_input` (`TRANSFORMER`),
#' `transform_output` (`OUTPUT_TRANSFORMER`) and, optionally, `send_feedback`. It is the entry
#' point of a container: `Rscript -e 'oxserve::serve_file("MyModel.R")'`.
#'
#' Requests reach the methods as a data frame: `data.ndarray` rows (or `data.tensor` values in
#' their shape) with `data.names` as column names, or the fields of `jsonData`. A matrix or data
#' frame result answers with its column names as `names`, in the payload form of the request.
#' Unlike Seldon's wrapper, `send_feedback` receives the reward the caller sent.
#'
#' The defaults come from the environment variables Seldon sets: `SERVICE_TYPE`,
#' `PREDICTIVE_UNIT_PARAMETERS` (a JSON list of `{"name", "value", "type"}` whose `type` is
#' `INT`, `FLOAT`, `DOUBLE`, `STRING`, `BOOL` or `JSON`), `PREDICTIVE_UNIT_ID` (the model's
#' name), `PREDICTIVE_UNIT_SERVICE_PORT` (REST, as for Seldon's R wrapper; 5000 by default),
#' `PREDICTIVE_UNIT_GRPC_SERVICE_PORT` (5001 by default) and `SELDON_LOG_LEVEL`. Both ports
#' answer REST and gRPC alike.
#'
#' @param file the model's R file; it is sourced into an environment of its own.
#' @param service_type `MODEL`, `ROUTER`, `TRANSFORMER` or `OUTPUT_TRANSFORMER`.
#' @param parameters the JSON text of the parameters passed to `initialise_seldon()`.
#' @param name the model's name in V2 URLs and Seldon's `requestPath`.
#' @param http_port,grpc_port ports to listen on.
#' @param max_batch_size,max_batch_time,max_queue_size,timeout,drain_timeout as for [serve()].
#' @return `NULL`, invisibly, once the server has drained.
#' @export
serve_file <- function(file, service_type = Sys.getenv("SERVICE_TYPE", "MODEL"),
                       parameters = Sys.getenv("PREDICTIVE_UNIT_PARAMETERS", "[]"),
                       name = Sys.getenv("PREDICTIVE_UNIT_ID", sub("\\.[Rr]$", "", basename(file))),
                       http_port = Sys.getenv("PREDICTIVE_UNIT_SERVICE_PORT", "5000"),
                       grpc_port = Sys.getenv("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "5001"),
                       max_batch_size = 0L, max_batch_time = 0, max_queue_size = 0L, timeout = 60,
                       drain_timeout = 30) {
  roles <- list(
    MODEL = "predict", ROUTER = "route", TRANSFORMER = "transform_input",
    OUTPUT_TRANSFORMER = "transform_output"
  )
  role <- roles[[service_type]]
  if (is.null(role)) {
    stop("service type '", service_type, "': expected one of ", paste(names(roles), collapse = ", "), call. = FALSE)
  }
  if (!file.exists(file)) stop("model file ", file, " does not exist", call. = FALSE)
  envir <- new.env(parent = globalenv())
  sys.source(file, envir = envir, keep.source = FALSE)
  initialise <- get0("initialise_seldon", envir = envir, mode = "function", inherits = FALSE)
  if (is.null(initialise)) {
    stop(file, " defines no initialise_seldon(params) function", call. = FALSE)
  }
  # Read before the call: a lazy argument that initialise_seldon() never reads would hide a bad
  # parameter.
  params <- seldon_parameters(parameters)
  model <- initialise(params)
  given <- list(NULL, NULL)
  names(given) <- c(role, "send_feedback")
  functions <- resolve_functions(model, given, required = role, envir = envir)
  settings <- scheduling(max_batch_size, max_batch_time, max_queue_size, timeout)
  entry <- model_entry(model, functions, name, settings, seldon = TRUE, envir = envir)
  options <- server_options(
    "0.0.0.0", http_port, grpc_port, tolower(Sys.getenv("SELDON_LOG_LEVEL", "info")),
    drain_timeout,
    seldon_unit_id = Sys.getenv("PREDICTIVE_UNIT_ID", name),
    seldon_unit_image = if (nzchar(Sys.getenv("PREDICTIVE_UNIT_IMAGE"))) Sys.getenv("PREDICTIVE_UNIT_IMAGE") else NULL
  )
  run_server(list(entry), options)
}

# The named list `initialise_seldon()` receives, from Seldon's JSON list of typed parameters.
# A bad entry is a start-up error naming it.
seldon_parameters <- function(text) {
  parsed <- parse_json(text)
  if (!is.null(parsed$error)) stop("PREDICTIVE_UNIT_PARAMETERS is not JSON: ", parsed$error, call. = FALSE)
  entries <- parsed$value
  if (is.null(entries)) return(list())
  if (!is.list(entries) || !is.null(names(entries))) {
    stop("PREDICTIVE_UNIT_PARAMETERS must be a JSON list of {name, value, type}", call. = FALSE)
  }
  values <- lapply(seq_along(entries), function(i) {
    entry <- entries[[i]]
    type <- if (is.null(entry$type)) "STRING" else entry$type
    value <- suppressWarnings(switch(type,
      INT = as.integer(entry$value),
      FLOAT = ,
      DOUBLE = as.numeric(entry$value),
      STRING = as.character(entry$value),
      BOOL = as.logical(entry$value),
      JSON = if (is.character(entry$value)) parse_json(entry$value)$value else entry$value,
      NULL
    ))
    if (!is.character(entry$name) || length(value) != 1L && type != "JSON" || anyNA(value)) {
      stop("PREDICTIVE_UNIT_PARAMETERS[", i - 1L, "]: expected {name, value, type} with a value of type ",
        "INT, FLOAT, DOUBLE, STRING, BOOL or JSON; got ", deparse(entry), call. = FALSE)
    }
    value
  })
  names(values) <- vapply(entries, function(e) e$name, character(1))
  values
}
