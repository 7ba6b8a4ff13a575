# Fits a logistic regression of the transmission type (am: 0 automatic, 1 manual) on weight and
# horsepower, and saves it for serve.R.
fit <- glm(am ~ wt + hp, data = mtcars, family = binomial)
saveRDS(fit, "model.rds")
cat("wrote model.rds\n")
