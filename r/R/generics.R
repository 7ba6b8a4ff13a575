#' Roles of a model besides `predict`
#'
#' S3 generics for the other things a unit of a Seldon inference graph does. Define a method
#' for your model's class (`transform_input.mymodel <- function(model, newdata) ...`) and
#' [serve()] offers that endpoint; a model without a method answers 501 there.
#'
#' - `transform_input(model, newdata)`: rewrites a request before the next unit (a data frame
#'   or matrix in, one out).
#' - `transform_output(model, newdata)`: rewrites a response on its way back.
#' - `route(model, newdata)`: picks the child unit for a request: its index from 0, `-1` for
#'   all children.
#' - `send_feedback(model, request, reward, truth)`: takes a reward for an earlier prediction
#'   (`request` and `truth` as `newdata` is for `predict`).
#' - `metadata(model)`: a list with any of `platform`, `versions`, `inputs` and `outputs`
#'   (each a list of `list(name =, datatype =, shape =)`, V2 model metadata). Declared inputs are
#'   checked before R sees a request.
#'
#' @param model the served object.
#' @param newdata the request's data (see [serve()] for its form).
#' @param request,truth the data of the request being rewarded and its true answer.
#' @param reward a number.
#' @param ... passed on to methods.
#' @name roles
NULL

#' @rdname roles
#' @export
transform_input <- function(model, newdata, ...) UseMethod("transform_input")

#' @rdname roles
#' @export
transform_output <- function(model, newdata, ...) UseMethod("transform_output")

#' @rdname roles
#' @export
route <- function(model, newdata, ...) UseMethod("route")

#' @rdname roles
#' @export
send_feedback <- function(model, request, reward, truth, ...) UseMethod("send_feedback")

#' @rdname roles
#' @export
metadata <- function(model, ...) UseMethod("metadata")
