# The `oxserve` R package serving the iris model in base R (runs with the bench's R library on
# R_LIBS): the multinomial logistic regression that scikit-learn fitted (bench/models.py writes
# its coefficients as text), softmax computed here, one matrix of class probabilities answered.
#
#   Rscript oxserve_r_server.R --coefficients FILE --model iris --http-port P --grpc-port Q \
#       [--max-batch-size 32 --max-batch-time 0.002]

options <- list(
  coefficients = NULL, model = NULL, http_port = NULL, grpc_port = NULL,
  max_batch_size = "0", max_batch_time = "0"
)
args <- commandArgs(trailingOnly = TRUE)
if (length(args) %% 2L != 0L) stop("options come in pairs: --name value", call. = FALSE)
for (i in seq(1L, length(args), by = 2L)) {
  key <- gsub("-", "_", sub("^--", "", args[[i]]))
  if (!key %in% names(options)) stop("unknown option ", args[[i]], call. = FALSE)
  options[[key]] <- args[[i + 1L]]
}
missing <- names(Filter(is.null, options))
if (length(missing)) stop("missing option(s): ", paste(missing, collapse = ", "), call. = FALSE)

# One row per class: the feature weights, then the bias.
table <- as.matrix(utils::read.table(options$coefficients, comment.char = "#"))
model <- list(weights = t(table[, -ncol(table), drop = FALSE]), bias = table[, ncol(table)])

softmax_predict <- function(model, newdata) {
  scores <- newdata %*% model$weights + rep(model$bias, each = nrow(newdata))
  scores <- exp(scores - apply(scores, 1L, max))
  scores / rowSums(scores)
}

oxserve::serve(
  model,
  predict = softmax_predict,
  name = options$model,
  host = "127.0.0.1",
  http_port = as.integer(options$http_port),
  grpc_port = as.integer(options$grpc_port),
  max_batch_size = as.integer(options$max_batch_size),
  max_batch_time = as.numeric(options$max_batch_time),
  log_level = "warning"
)
