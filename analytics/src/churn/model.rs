//! The two models, fitted with linfa and kept in a plain form that the
//! model file stores and that scores and explains a row: a logistic
//! regression on standardised features, and a decision tree whose leaves
//! score the share of churners among their training rows.

use linfa::Dataset;
use linfa::traits::Fit;
use linfa_logistic::LogisticRegression;
use linfa_trees::{DecisionTree, TreeNode};
use ndarray::{Array1, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::bounds::{LOGISTIC_ITERATIONS_MAX, TREE_DEPTH_MAX};
use super::error::ChurnError;

/// The L2 penalty of the logistic regression on standardised features
/// (scikit-learn's default, `C = 1`).
pub const LOGISTIC_ALPHA: f64 = 1.0;

/// The weight of the prior (the training base rate) in a tree leaf's
/// score, in rows: a leaf of few rows scores near the base rate.
pub const LEAF_PRIOR_ROWS: f64 = 10.0;

/// The kinds of model trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Logistic regression.
    Logistic,
    /// Decision tree.
    Tree,
}

impl Kind {
    /// Both, in the order they are tried.
    pub const ALL: [Kind; 2] = [Kind::Logistic, Kind::Tree];

    /// The name in files and messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Logistic => "logistic",
            Self::Tree => "tree",
        }
    }
}

/// A fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Model {
    /// `1 / (1 + exp(-(intercept + Σ weight_j · (x_j - mean_j) / scale_j)))`.
    Logistic {
        /// Training mean of each feature.
        mean: Vec<f64>,
        /// Training standard deviation of each feature (1 where it is 0).
        scale: Vec<f64>,
        /// The intercept.
        intercept: f64,
        /// One weight per standardised feature.
        weights: Vec<f64>,
    },
    /// A binary tree; node 0 is the root.
    Tree {
        /// The nodes.
        nodes: Vec<Node>,
    },
}

/// A node of the tree: a split (`feature < threshold` goes left) or a leaf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// The feature split on; `None` for a leaf.
    pub feature: Option<usize>,
    /// Rows with the feature below it go left.
    pub threshold: f64,
    /// Index of the left child.
    pub left: usize,
    /// Index of the right child.
    pub right: usize,
    /// Training rows that reached the node.
    pub rows: usize,
    /// Their smoothed share of churners: the node's score.
    pub score: f64,
}

impl Model {
    /// Fits a model of `kind` on rows `x` with labels `y` (both classes
    /// present).
    ///
    /// # Errors
    /// [`ChurnError::Fit`] with linfa's message.
    pub fn fit(kind: Kind, x: ArrayView2<'_, f64>, y: &[bool]) -> Result<Self, ChurnError> {
        match kind {
            Kind::Logistic => fit_logistic(x, y),
            Kind::Tree => fit_tree(x, y),
        }
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Self::Logistic { .. } => Kind::Logistic,
            Self::Tree { .. } => Kind::Tree,
        }
    }

    /// The score (probability of churn) of each row.
    #[must_use]
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Vec<f64> {
        x.axis_iter(Axis(0)).map(|row| self.score(row)).collect()
    }

    /// The score of one row.
    #[must_use]
    pub fn score(&self, row: ArrayView1<'_, f64>) -> f64 {
        match self {
            Self::Logistic { intercept, .. } => sigmoid(intercept + self.contributions(row).iter().sum::<f64>()),
            Self::Tree { nodes } => nodes[leaf_path(nodes, row).last().copied().unwrap_or(0)].score,
        }
    }

    /// What each feature adds to the row's score: for the regression, its
    /// term of the linear sum (log-odds); for the tree, the change of score
    /// at each split on the row's path, given to the split's feature.
    #[must_use]
    pub fn contributions(&self, row: ArrayView1<'_, f64>) -> Vec<f64> {
        match self {
            Self::Logistic { mean, scale, weights, .. } => {
                (0..weights.len()).map(|j| weights[j] * (row[j] - mean[j]) / scale[j]).collect()
            }
            Self::Tree { nodes } => {
                let mut out = vec![0.0; row.len()];
                let path = leaf_path(nodes, row);
                for pair in path.windows(2) {
                    if let Some(feature) = nodes[pair[0]].feature {
                        out[feature] += nodes[pair[1]].score - nodes[pair[0]].score;
                    }
                }
                out
            }
        }
    }

    /// How much each feature weighs overall: the regression's standardised
    /// weights, or the tree's summed score changes at splits on the feature
    /// (weighted by the rows that passed).
    #[must_use]
    pub fn feature_weights(&self, features: usize) -> Vec<f64> {
        match self {
            Self::Logistic { weights, .. } => weights.clone(),
            Self::Tree { nodes } => {
                let mut out = vec![0.0; features];
                let total = nodes.first().map_or(1, |n| n.rows.max(1)) as f64;
                for node in nodes {
                    if let Some(feature) = node.feature {
                        let (l, r) = (&nodes[node.left], &nodes[node.right]);
                        let spread = (l.rows as f64 * (l.score - node.score).abs()
                            + r.rows as f64 * (r.score - node.score).abs())
                            / total;
                        if let Some(w) = out.get_mut(feature) {
                            *w += spread;
                        }
                    }
                }
                out
            }
        }
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The nodes from the root to the row's leaf.
fn leaf_path(nodes: &[Node], row: ArrayView1<'_, f64>) -> Vec<usize> {
    let mut path = vec![0];
    let mut at = 0;
    // A tree of depth d has paths of d + 1 nodes; the bound guards a
    // hand-edited model file with a cycle.
    for _ in 0..nodes.len() {
        let Some(node) = nodes.get(at) else { break };
        let Some(feature) = node.feature else { break };
        at = if row[feature] < node.threshold { node.left } else { node.right };
        path.push(at);
    }
    path
}

fn fit_logistic(x: ArrayView2<'_, f64>, y: &[bool]) -> Result<Model, ChurnError> {
    let fit_error = |message: String| ChurnError::Fit { model: "logistic", message };
    let rows = x.nrows().max(1) as f64;
    let mean: Vec<f64> = x.axis_iter(Axis(1)).map(|c| c.sum() / rows).collect();
    let scale: Vec<f64> = x
        .axis_iter(Axis(1))
        .zip(&mean)
        .map(|(c, m)| {
            let sd = (c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / rows).sqrt();
            if sd > 1e-12 { sd } else { 1.0 }
        })
        .collect();
    let mut z = x.to_owned();
    for (j, mut column) in z.axis_iter_mut(Axis(1)).enumerate() {
        column.mapv_inplace(|v| (v - mean[j]) / scale[j]);
    }
    let dataset = Dataset::new(z, Array1::from(y.to_vec()));
    let fitted = LogisticRegression::default()
        .alpha(LOGISTIC_ALPHA)
        .max_iterations(LOGISTIC_ITERATIONS_MAX)
        .fit(&dataset)
        .map_err(|e| fit_error(e.to_string()))?;
    // linfa scores the larger class, which for booleans is `true`; checked
    // rather than assumed.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let weights = fitted.params().iter().map(|w| sign * w).collect();
    Ok(Model::Logistic { mean, scale, intercept: sign * fitted.intercept(), weights })
}

fn fit_tree(x: ArrayView2<'_, f64>, y: &[bool]) -> Result<Model, ChurnError> {
    let positives = y.iter().filter(|&&l| l).count().max(1);
    let negatives = (y.len() - positives).max(1);
    // Balanced class weights, so that splits chase the churners rather
    // than the majority, and leaves keep predicting both classes.
    let (w_pos, w_neg) = (y.len() as f64 / (2.0 * positives as f64), y.len() as f64 / (2.0 * negatives as f64));
    #[allow(clippy::cast_possible_truncation)] // linfa weighs rows in f32
    let weights: Array1<f32> = y.iter().map(|&l| if l { w_pos as f32 } else { w_neg as f32 }).collect();
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)] // a row count
    let min_leaf = (y.len() as f32 / 100.0).max(5.0);
    let dataset = Dataset::new(x.to_owned(), Array1::from(y.to_vec())).with_weights(weights);
    let tree: DecisionTree<f64, bool> = DecisionTree::params()
        .max_depth(Some(TREE_DEPTH_MAX))
        .min_weight_split(2.0 * min_leaf)
        .min_weight_leaf(min_leaf)
        .fit(&dataset)
        .map_err(|e| ChurnError::Fit { model: "tree", message: e.to_string() })?;
    let mut nodes = Vec::new();
    flatten(tree.root_node(), &mut nodes);
    // The leaves score the training rows that reach them.
    let prior = positives as f64 / y.len().max(1) as f64;
    let mut hits = vec![(0usize, 0usize); nodes.len()];
    for (row, &label) in x.axis_iter(Axis(0)).zip(y) {
        for at in leaf_path(&nodes, row) {
            hits[at].0 += 1;
            hits[at].1 += usize::from(label);
        }
    }
    for (node, (rows, churners)) in nodes.iter_mut().zip(hits) {
        node.rows = rows;
        node.score = (churners as f64 + LEAF_PRIOR_ROWS * prior) / (rows as f64 + LEAF_PRIOR_ROWS);
    }
    Ok(Model::Tree { nodes })
}

/// Appends `node` and its subtree in pre-order; returns its index.
fn flatten(node: &TreeNode<f64, bool>, nodes: &mut Vec<Node>) -> usize {
    let at = nodes.len();
    nodes.push(Node { feature: None, threshold: 0.0, left: 0, right: 0, rows: 0, score: 0.0 });
    if node.is_leaf() {
        return at;
    }
    let (feature, threshold, _) = node.split();
    let children = node.children();
    let (Some(Some(left)), Some(Some(right))) = (children.first(), children.get(1)) else {
        return at; // An inner node without both children scores as a leaf.
    };
    let left = flatten(left, nodes);
    let right = flatten(right, nodes);
    nodes[at] = Node { feature: Some(feature), threshold, left, right, rows: 0, score: 0.0 };
    at
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::churn::metrics::roc_auc;

    fn matrix(rows: &[Vec<f64>]) -> ndarray::Array2<f64> {
        let width = rows.first().map_or(0, Vec::len);
        ndarray::Array2::from_shape_fn((rows.len(), width), |(i, j)| rows[i][j])
    }

    /// Churn rises with the first feature; the second is noise.
    fn data() -> (ndarray::Array2<f64>, Vec<bool>) {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..400 {
            let signal = rng.f64() * 10.0;
            let noise = rng.f64() * 100.0;
            labels.push(rng.f64() < signal / 12.0);
            rows.push(vec![signal, noise]);
        }
        (matrix(&rows), labels)
    }

    #[test]
    fn both_models_learn_the_signal() {
        let (x, y) = data();
        for kind in Kind::ALL {
            let model = Model::fit(kind, x.view(), &y).unwrap();
            let scores = model.predict(x.view());
            let auc = roc_auc(&scores, &y).unwrap();
            assert!(auc > 0.75, "{kind:?}: {auc}");
            assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
            let weights = model.feature_weights(2);
            assert!(weights[0].abs() > weights[1].abs(), "{kind:?}: {weights:?}");
        }
    }

    #[test]
    fn contributions_add_up_to_the_score() {
        let (x, y) = data();
        let Model::Logistic { intercept, .. } = Model::fit(Kind::Logistic, x.view(), &y).unwrap() else { panic!() };
        let logistic = Model::fit(Kind::Logistic, x.view(), &y).unwrap();
        let row = x.row(5);
        let sum: f64 = logistic.contributions(row).iter().sum();
        assert!((sigmoid(intercept + sum) - logistic.score(row)).abs() < 1e-12);
        let tree = Model::fit(Kind::Tree, x.view(), &y).unwrap();
        let Model::Tree { nodes } = &tree else { panic!() };
        let sum: f64 = tree.contributions(row).iter().sum();
        assert!((nodes[0].score + sum - tree.score(row)).abs() < 1e-12);
    }

    #[test]
    fn fitting_is_deterministic() {
        let (x, y) = data();
        for kind in Kind::ALL {
            assert_eq!(Model::fit(kind, x.view(), &y).unwrap(), Model::fit(kind, x.view(), &y).unwrap());
        }
    }
}
