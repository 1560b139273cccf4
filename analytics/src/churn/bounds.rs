//! Every bound of the churn models, in one place.

/// Bytes of a feature file read into memory.
pub const FILE_BYTES_MAX: u64 = 1 << 30;

/// Rows of a feature table (training or scoring).
pub const ROWS_MAX: usize = 2_000_000;

/// Columns of a feature table.
pub const COLUMNS_MAX: usize = 1_024;

/// Bytes of one CSV field.
pub const CELL_BYTES_MAX: usize = 4_096;

/// Levels one-hot encoded per categorical column; the rarer ones share
/// the column `<name>=other`.
pub const LEVELS_MAX: usize = 32;

/// Rows below which no column is taken for an id: with few rows, a
/// feature's values are unique by chance.
pub const ID_ROWS_MIN: usize = 20;

/// Rows of each class the stratified split needs: some in each of train,
/// validation and test.
pub const CLASS_ROWS_MIN: usize = 5;

/// Iterations of the logistic regression's L-BFGS solver.
pub const LOGISTIC_ITERATIONS_MAX: u64 = 500;

/// Depth of the decision tree.
pub const TREE_DEPTH_MAX: usize = 6;

/// Points kept of the ROC curve, the gain chart and the calibration table
/// in a model file.
pub const CURVE_POINTS_MAX: usize = 101;

/// Bins of the score histogram.
pub const SCORE_BINS: usize = 20;

/// As-of dates of one feature build.
pub const AS_OF_DATES_MAX: usize = 120;
