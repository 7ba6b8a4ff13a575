# Between the border form of the Rust library (see bindings/r/src/convert.rs: messages are
# lists of `tensors`, each with `name`, `datatype`, `shape`, `parameters` and `data` in
# row-major order, or `json` for a Seldon jsonData payload) and what R models take and return.

# A condition that answers 400: the request cannot be made into the model's input.
bad_request <- function(...) {
  stop(structure(
    class = c("oxserve_bad_request", "error", "condition"),
    list(message = paste0(...), call = NULL)
  ))
}

# The Seldon payload kind a tensor carries (`json`, `str`, `bytes`), or "" for plain data.
content_type <- function(tensor) {
  kind <- tensor$parameters$content_type
  if (is.character(kind) && length(kind) == 1L) kind else ""
}

# A tensor's data as an R vector, matrix or array of its shape. Seldon's column names (the
# tensor parameter `names`) become the matrix's column names.
tensor_array <- function(tensor) {
  shape <- tensor$shape
  data <- tensor$data
  if (length(shape) == 2L) {
    data <- matrix(data, nrow = shape[1], ncol = shape[2], byrow = TRUE)
    names <- tensor$parameters$names
    if (length(names) == shape[2]) colnames(data) <- as.character(names)
  } else if (length(shape) > 2L) {
    # R arrays are column-major: fill the reversed shape, then reverse the dimensions back.
    data <- aperm(array(data, dim = rev(shape)))
  }
  data
}

# Whether a request is columnar: several inputs, or one of rank 1, each a column of a table.
# A data frame answers such a request column by column, and any other request (every Seldon
# request: Seldon reads one output) with one 2-D tensor whose column names travel as the
# `names` parameter.
columnar <- function(message, seldon) {
  tensors <- message$tensors
  raw <- length(tensors) == 1L && content_type(tensors[[1]]) != ""
  !seldon && !raw && (length(tensors) > 1L || (length(tensors) == 1L && length(tensors[[1]]$shape) == 1L))
}

# What the model's function receives for a request (or response) `message`:
# - a Seldon jsonData payload: the parsed JSON (a data frame when `seldon` and it is a named
#   list of equal-length columns), strData a string, binData a raw vector;
# - a columnar request (several inputs, or one of rank 1; each of shape [N] or [N, 1]): a data
#   frame with one column per input, named after it;
# - one input of rank 2 or more: its matrix or array, as a data frame when it has column names
#   or when `seldon` (Seldon's R contract hands models a data frame; a 1-D ndarray is one row).
newdata_from_message <- function(message, seldon) {
  tensors <- message$tensors
  if (length(tensors) == 0L) bad_request("the request has no inputs")
  if (length(tensors) > 1L || columnar(message, seldon)) return(columns_frame(tensors))
  tensor <- tensors[[1]]
  switch(content_type(tensor),
    json = return(json_newdata(tensor$json, seldon)),
    str = return(tensor$data),
    bytes = return(tensor$data[[1]])
  )
  x <- tensor_array(tensor)
  if (seldon && is.null(dim(x))) x <- matrix(x, nrow = 1L)
  if (length(dim(x)) == 2L && (seldon || !is.null(colnames(x)))) {
    x <- as.data.frame(x, stringsAsFactors = FALSE)
  }
  x
}

# A data frame with one column per tensor.
columns_frame <- function(tensors) {
  columns <- lapply(tensors, function(tensor) {
    shape <- tensor$shape
    if (!(length(shape) == 1L || (length(shape) == 2L && shape[2] == 1L))) {
      bad_request(
        "input '", tensor$name, "' has shape [", paste(shape, collapse = ", "),
        "]; with several inputs each must be a column of shape [N] or [N, 1]"
      )
    }
    tensor$data
  })
  rows <- vapply(columns, length, integer(1))
  if (length(unique(rows)) != 1L) {
    bad_request("inputs have different numbers of rows (", paste(rows, collapse = ", "), ")")
  }
  names(columns) <- vapply(tensors, function(t) t$name, character(1))
  as.data.frame(columns, stringsAsFactors = FALSE, optional = TRUE)
}

json_newdata <- function(value, seldon) {
  is_table <- is.list(value) && !is.null(names(value)) && length(value) > 0L &&
    all(vapply(value, is.atomic, logical(1))) &&
    length(unique(vapply(value, length, integer(1)))) == 1L
  if (seldon && is_table) as.data.frame(value, stringsAsFactors = FALSE, optional = TRUE) else value
}

# The V2 datatype R values of `x`'s type are sent as.
datatype_of <- function(x, name) {
  switch(typeof(x),
    double = "FP64",
    integer = "INT32",
    logical = "BOOL",
    character = "BYTES",
    stop("output '", name, "' is of type ", typeof(x), ", which has no tensor form", call. = FALSE)
  )
}

# One tensor from a vector, factor, matrix or array; a matrix's column names travel as the
# `names` parameter (Seldon's `data.names`).
array_tensor <- function(x, name) {
  if (is.factor(x)) x <- as.character(x)
  shape <- if (is.null(dim(x))) length(x) else dim(x)
  parameters <- list()
  if (length(shape) == 2L && !is.null(colnames(x))) parameters$names <- I(colnames(x))
  # Row-major order: a matrix's transpose, read column by column.
  data <- if (length(shape) >= 2L) as.vector(aperm(x)) else as.vector(x)
  list(
    name = name, datatype = datatype_of(x, name), shape = as.integer(shape),
    parameters = parameters, data = data
  )
}

raw_tensor <- function(name, kind, data) {
  list(
    name = name, datatype = "BYTES", shape = 1L,
    parameters = list(content_type = kind), data = data
  )
}

json_tensor <- function(value) {
  list(
    name = "jsonData", datatype = "BYTES", shape = 1L,
    parameters = list(content_type = "json"), json = value
  )
}

# The tensors of a model's `result`, for a request whose first tensor was `first` (whose
# payload kind it mirrors) and that was `columnar` or not; `name` names a lone output.
result_tensors <- function(result, first, columnar, name) {
  if (is.null(result)) result <- numeric(0)
  kind <- if (is.null(first)) "" else content_type(first)
  if (is.data.frame(result)) {
    result[] <- lapply(result, function(column) if (is.factor(column)) as.character(column) else column)
    if (columnar) {
      return(Map(array_tensor, result, names(result), USE.NAMES = FALSE))
    }
    # One matrix: mixed columns become strings, written in full rather than as.matrix's
    # seven significant digits.
    if (!all(vapply(result, function(column) is.numeric(column) || is.logical(column), logical(1)))) {
      result[] <- lapply(result, as.character)
    }
    return(list(array_tensor(as.matrix(result), name)))
  }
  if (is.list(result)) return(list(json_tensor(result)))
  if (is.raw(result)) return(list(raw_tensor("binData", "bytes", list(result))))
  if (kind == "str" && is.character(result) && length(result) == 1L) {
    return(list(raw_tensor("strData", "str", result)))
  }
  if (kind == "json" && is.null(dim(result))) return(list(json_tensor(result)))
  list(array_tensor(result, name))
}

# The answer message: the result's tensors (only those the caller asked for, when it named
# any). The server lays the request's Seldon meta (puid, tags) over it.
result_message <- function(result, message, seldon, name) {
  first <- if (length(message$tensors)) message$tensors[[1]] else NULL
  tensors <- result_tensors(result, first, columnar(message, seldon), name)
  wanted <- message$outputs
  if (length(wanted)) {
    tensors <- Filter(function(t) t$name %in% wanted, tensors)
  }
  list(tensors = tensors, parameters = list())
}
