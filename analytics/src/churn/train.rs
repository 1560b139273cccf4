//! Training: the split, both models fitted on the training rows, the one
//! with the better validation ROC AUC kept, its figures on the test rows,
//! and the model file that holds it all.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::Axis;
use serde::{Deserialize, Serialize};

use super::bounds::CLASS_ROWS_MIN;
use super::encode::{Schema, labels};
use super::error::ChurnError;
use super::metrics::{Metrics, roc_auc};
use super::model::{Kind, Model};
use super::table::Table;

/// The `format` of model files this build writes and reads.
pub const MODEL_FORMAT: u32 = 1;

/// Which rows train, choose and test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Rows the models are fitted on.
    pub train: Vec<usize>,
    /// Rows that choose between the models.
    pub validation: Vec<usize>,
    /// Rows the chosen model is measured on.
    pub test: Vec<usize>,
    /// How the rows were split, for the model file.
    pub method: String,
}

impl Split {
    /// A stratified split, 60 % train, 20 % validation and 20 % test of
    /// each class, rows drawn with `seed`.
    ///
    /// # Errors
    /// [`ChurnError::TooFewRows`] when a class has fewer than
    /// [`CLASS_ROWS_MIN`] rows.
    pub fn stratified(labels: &[bool], label: &str, seed: u64) -> Result<Self, ChurnError> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut split = Self { train: Vec::new(), validation: Vec::new(), test: Vec::new(), method: String::new() };
        for class in [true, false] {
            let mut rows: Vec<usize> = (0..labels.len()).filter(|&r| labels[r] == class).collect();
            if rows.len() < CLASS_ROWS_MIN {
                return Err(ChurnError::TooFewRows {
                    column: label.to_string(),
                    value: class,
                    count: rows.len(),
                    min: CLASS_ROWS_MIN,
                });
            }
            rng.shuffle(&mut rows);
            let test = (rows.len() / 5).max(1);
            let validation = (rows.len() / 5).max(1);
            split.test.extend_from_slice(&rows[..test]);
            split.validation.extend_from_slice(&rows[test..test + validation]);
            split.train.extend_from_slice(&rows[test + validation..]);
        }
        for part in [&mut split.train, &mut split.validation, &mut split.test] {
            part.sort_unstable();
        }
        split.method = format!("stratified 60/20/20, seed {seed}");
        Ok(split)
    }

    /// Which part each row is in: `train`, `validation` or `test`.
    #[must_use]
    pub fn parts(&self, rows: usize) -> Vec<&'static str> {
        let mut parts = vec![""; rows];
        for (name, part) in [("train", &self.train), ("validation", &self.validation), ("test", &self.test)] {
            for &r in part {
                parts[r] = name;
            }
        }
        parts
    }
}

/// A trained model with everything needed to score and to judge it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// [`MODEL_FORMAT`].
    pub format: u32,
    /// The features: which columns, encoded how.
    pub schema: Schema,
    /// The encoded features' names, one per model input.
    pub feature_names: Vec<String>,
    /// The chosen model.
    pub model: Model,
    /// How the rows were split.
    pub split: String,
    /// Rows in train, validation and test.
    pub rows: BTreeMap<String, usize>,
    /// ROC AUC of each model on the validation rows (the choice).
    pub validation_roc_auc: BTreeMap<String, f64>,
    /// ROC AUC of each model on the test rows, for the record.
    pub test_roc_auc: BTreeMap<String, f64>,
    /// The chosen model on the test rows.
    pub test: Metrics,
    /// Scores at or above which a row is in the `high` and `medium` risk
    /// bands: the scores of the top 5 % and 20 % of the test rows.
    pub bands: Bands,
    /// Each encoded feature's overall weight (see
    /// [`Model::feature_weights`]), largest magnitude first.
    pub feature_weights: Vec<(String, f64)>,
}

/// The risk bands' lower scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bands {
    /// Lowest score of the `high` band.
    pub high: f64,
    /// Lowest score of the `medium` band.
    pub medium: f64,
}

impl Bands {
    /// The band of a score.
    #[must_use]
    pub fn of(&self, score: f64) -> &'static str {
        if score >= self.high {
            "high"
        } else if score >= self.medium {
            "medium"
        } else {
            "low"
        }
    }
}

impl ModelFile {
    /// Writes the model as pretty JSON.
    ///
    /// # Errors
    /// [`ChurnError::Io`].
    pub fn save(&self, path: &Path) -> Result<(), ChurnError> {
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| ChurnError::ModelFile { path: path.to_path_buf(), message: e.to_string() })?;
        std::fs::write(path, json + "\n").map_err(|source| ChurnError::Io { path: path.to_path_buf(), source })
    }

    /// Reads a model file.
    ///
    /// # Errors
    /// [`ChurnError::Io`] and [`ChurnError::ModelFile`] (not JSON, another
    /// format, a model that does not fit its features).
    pub fn load(path: &Path) -> Result<Self, ChurnError> {
        let bad = |message: String| ChurnError::ModelFile { path: path.to_path_buf(), message };
        let text =
            std::fs::read_to_string(path).map_err(|source| ChurnError::Io { path: path.to_path_buf(), source })?;
        let file: Self = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.format != MODEL_FORMAT {
            return Err(bad(format!("format {}, this build reads format {MODEL_FORMAT}", file.format)));
        }
        let width = file.schema.names().len();
        let fits = match &file.model {
            Model::Logistic { mean, scale, weights, .. } => {
                mean.len() == width && scale.len() == width && weights.len() == width
            }
            Model::Tree { nodes } => {
                !nodes.is_empty()
                    && nodes
                        .iter()
                        .all(|n| n.feature.is_none_or(|f| f < width && n.left < nodes.len() && n.right < nodes.len()))
            }
        };
        if !fits || file.feature_names.len() != width {
            return Err(bad(format!("the model does not fit its {width} features")));
        }
        Ok(file)
    }
}

/// Trains both models on `table`'s `label` with `split`, keeping `keep_out`
/// columns (keys) out of the features.
///
/// # Errors
/// Those of [`Schema::fit`], [`Schema::encode`], [`labels`] and
/// [`Model::fit`].
pub fn train(table: &Table, label: &str, keep_out: &[&str], split: &Split) -> Result<ModelFile, ChurnError> {
    let y = labels(table, label)?;
    let schema = Schema::fit(table, label, keep_out, &split.train)?;
    let pick = |rows: &[usize]| rows.iter().map(|&r| y[r]).collect::<Vec<bool>>();
    let (y_train, y_validation, y_test) = (pick(&split.train), pick(&split.validation), pick(&split.test));
    for (part, ys) in [("train", &y_train), ("validation", &y_validation), ("test", &y_test)] {
        if ys.iter().all(|&l| l) || ys.iter().all(|&l| !l) {
            return Err(ChurnError::Invalid(format!(
                "the {part} rows hold one class only; more rows of each class are needed"
            )));
        }
    }
    let x_train = schema.encode(table, &split.train)?;
    let x_validation = schema.encode(table, &split.validation)?;
    let x_test = schema.encode(table, &split.test)?;
    let mut models = Vec::new();
    let mut validation_roc_auc = BTreeMap::new();
    let mut test_roc_auc = BTreeMap::new();
    for kind in Kind::ALL {
        let model = Model::fit(kind, x_train.view(), &y_train)?;
        let auc = roc_auc(&model.predict(x_validation.view()), &y_validation).unwrap_or(0.5);
        validation_roc_auc.insert(kind.name().to_string(), auc);
        test_roc_auc.insert(kind.name().to_string(), roc_auc(&model.predict(x_test.view()), &y_test).unwrap_or(0.5));
        models.push((auc, model));
    }
    // The better validation AUC wins; on a tie, the simpler regression.
    let mut best = 0;
    for (i, (auc, _)) in models.iter().enumerate() {
        if *auc > models[best].0 {
            best = i;
        }
    }
    let model = models.swap_remove(best).1;
    let test_scores = model.predict(x_test.view());
    let test = Metrics::of(&test_scores, &y_test);
    let bands = bands(&test_scores);
    let names = schema.names();
    let mut feature_weights: Vec<(String, f64)> =
        names.iter().cloned().zip(model.feature_weights(x_train.len_of(Axis(1)))).collect();
    feature_weights.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then_with(|| a.0.cmp(&b.0)));
    let rows = [("train", split.train.len()), ("validation", split.validation.len()), ("test", split.test.len())]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    Ok(ModelFile {
        format: MODEL_FORMAT,
        feature_names: names,
        schema,
        model,
        split: split.method.clone(),
        rows,
        validation_roc_auc,
        test_roc_auc,
        test,
        bands,
        feature_weights,
    })
}

/// The band thresholds from test scores: the lowest score of the top 5 %
/// and of the top 20 %.
fn bands(scores: &[f64]) -> Bands {
    let order = super::metrics::ranking(scores);
    let at = |fraction| {
        let k = super::metrics::top_count(scores.len(), fraction);
        order.get(k - 1).map_or(1.0, |&r| scores[r])
    };
    Bands { high: at(0.05), medium: at(0.20) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn table(seed: u64) -> Table {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut csv = String::from("id,plan,usage,late,churn\n");
        for i in 0..600 {
            let plan = ["basic", "plus", "pro"][rng.usize(0..3)];
            let usage = rng.f64() * 100.0;
            let late = rng.usize(0..4);
            let risk = 0.05 + 0.2 * late as f64 + if plan == "basic" { 0.1 } else { 0.0 } - usage / 400.0;
            let churn = if rng.f64() < risk { "yes" } else { "no" };
            let usage = if i % 17 == 0 { String::new() } else { format!("{usage:.2}") };
            csv.push_str(&format!("U{i},{plan},{usage},{late},{churn}\n"));
        }
        Table::from_csv(&csv, "t.csv").unwrap()
    }

    #[test]
    fn trains_chooses_and_round_trips() {
        let t = table(1);
        let y = labels(&t, "churn").unwrap();
        let split = Split::stratified(&y, "churn", 7).unwrap();
        assert_eq!(split.train.len() + split.validation.len() + split.test.len(), 600);
        let file = train(&t, "churn", &[], &split).unwrap();
        assert!(file.test.roc_auc > 0.7, "{}", file.test.roc_auc);
        assert_eq!(file.schema.ignored.len(), 1);
        assert_eq!(file.feature_names.len(), 6, "{:?}", file.feature_names);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        file.save(&path).unwrap();
        assert_eq!(ModelFile::load(&path).unwrap(), file);
        // Same seed, same model, to the bit.
        assert_eq!(train(&t, "churn", &[], &Split::stratified(&y, "churn", 7).unwrap()).unwrap(), file);
    }

    #[test]
    fn the_split_is_stratified_and_seeded() {
        let labels: Vec<bool> = (0..100).map(|i| i % 4 == 0).collect();
        let a = Split::stratified(&labels, "y", 1).unwrap();
        assert_eq!(a, Split::stratified(&labels, "y", 1).unwrap());
        assert_ne!(a.test, Split::stratified(&labels, "y", 2).unwrap().test);
        assert_eq!(a.test.iter().filter(|&&r| labels[r]).count(), 5);
        assert_eq!(a.test.len(), 20);
        let few: Vec<bool> = (0..100).map(|i| i < 3).collect();
        assert!(Split::stratified(&few, "y", 1).unwrap_err().to_string().contains("3 rows of class true"));
    }

    #[test]
    fn bands_from_the_top_scores() {
        let scores: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0).collect();
        let b = bands(&scores);
        assert_eq!((b.high, b.medium), (0.95, 0.80));
        assert_eq!((b.of(0.97), b.of(0.85), b.of(0.1)), ("high", "medium", "low"));
    }
}
