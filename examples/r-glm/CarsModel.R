# The same model in the shape of Seldon Core's R wrapper, served by
# `Rscript -e 'oxserve::serve_file("CarsModel.R")'`: initialise_seldon() builds the object
# (PREDICTIVE_UNIT_PARAMETERS may name another model file), predict.cars answers for it.
initialise_seldon <- function(params) {
  file <- if (is.null(params$model_file)) "model.rds" else params$model_file
  structure(list(fit = readRDS(file)), class = "cars")
}

predict.cars <- function(cars, newdata = list()) {
  p <- predict(cars$fit, newdata = newdata, type = "response")
  cbind(automatic = 1 - p, manual = p)
}
