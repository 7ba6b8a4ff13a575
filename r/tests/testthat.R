library(testthat)
library(oxserve)

test_check("oxserve")
