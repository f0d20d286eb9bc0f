"""Investor profiles: addresses grouped by behaviour, each group described and named.

The pipeline of the investor-profile app (power transform → standard scaling → PCA → K-means,
Gaussian mixture or Ward clustering), with what it lacked: heavy tails winsorised at fitted
quantiles before the Yeo-Johnson transform; accounts without activity as one explicit profile
rather than a cluster that wins the silhouette; no cluster smaller than a share of the addresses;
a richer behavioural feature set beside the app's three; a name and a description per profile.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.decomposition import PCA
from sklearn.preprocessing import PowerTransformer, StandardScaler

from eth_assets.common.files import load_pickle, save_pickle
from eth_assets.models.ml.clustering import (
    METHODS,
    Clustering,
    fit_clustering,
    predict,
    silhouette,
    ward_tree,
)
from eth_assets.models.ml.profile_features import (
    FEATURE_SETS,
    NO_ACTIVITY_ID,
    NO_ACTIVITY_NAME,
    profile_frame,
    source_columns,
)
from eth_assets.models.ml.units import readable

# Per profile feature: (adjective when high, adjective when low, noun when high, noun when low).
VOCABULARY: dict[str, tuple[str, str, str, str]] = {
    "balance_eth": ("wealthy", "low-balance", "large holders", "small holders"),
    "unique_tokens_held": ("token-rich", "token-free", "token collectors", "ether-only holders"),
    "unique_token_transfers": ("token-active", "token-idle", "token traders", "ether-only users"),
    "active_days": ("long-lived", "short-lived", "veterans", "one-shot accounts"),
    "transactions": ("busy", "dormant", "heavy transactors", "occasional users"),
    "counterparties": ("well-connected", "isolated", "hubs", "few-counterparty accounts"),
    "sent_share": ("spending", "accumulating", "distributors", "accumulators"),
    "token_share": ("token-heavy", "ether-heavy", "token traders", "ether transactors"),
    "contract_share": ("contract-using", "peer-to-peer", "contract users", "peer-to-peer payers"),
    "ether_volume": ("high-volume", "low-volume", "high-volume movers", "small movers"),
}


@dataclass
class ProfileTransform:
    """Winsorise at fitted quantiles → Yeo-Johnson → standard scaling → PCA."""

    columns: tuple[str, ...]
    winsor_quantile: float = 0.005
    pca_variance: float = 0.9
    lower: np.ndarray = field(default_factory=lambda: np.zeros(0))
    upper: np.ndarray = field(default_factory=lambda: np.zeros(0))
    power: PowerTransformer | None = None
    scaler: StandardScaler | None = None
    pca: PCA | None = None

    def fit(self, values: np.ndarray) -> ProfileTransform:
        self.lower = np.quantile(values, self.winsor_quantile, axis=0)
        self.upper = np.quantile(values, 1 - self.winsor_quantile, axis=0)
        clipped = np.clip(values, self.lower, self.upper)
        self.power = PowerTransformer(method="yeo-johnson", standardize=False).fit(clipped)
        self.scaler = StandardScaler().fit(self.power.transform(clipped))
        scaled = self.scaler.transform(self.power.transform(clipped))
        components = scaled.shape[1]
        if self.pca_variance < 1.0 and components > 3:
            full = PCA(random_state=0).fit(scaled)
            cumulative = np.cumsum(full.explained_variance_ratio_)
            components = int(np.searchsorted(cumulative, self.pca_variance) + 1)
        self.pca = PCA(n_components=components, random_state=0).fit(scaled)
        return self

    def scaled(self, values: np.ndarray) -> np.ndarray:
        """Standardised, transformed features (before PCA): where profiles are described."""
        assert self.power is not None and self.scaler is not None, "fit the transform first"
        return self.scaler.transform(self.power.transform(np.clip(values, self.lower, self.upper)))

    def transform(self, values: np.ndarray) -> np.ndarray:
        assert self.pca is not None, "fit the transform first"
        return self.pca.transform(self.scaled(values))


@dataclass(frozen=True)
class Candidate:
    """One (feature set, method, k) with its scores."""

    feature_set: str
    method: str
    k: int
    silhouette: float
    silhouette_with_inactive: float
    smallest_share: float
    largest_identical_share: float
    eligible: bool


@dataclass(frozen=True)
class ProfileSearch:
    """Every candidate clustering of one feature set, and the fitted transform."""

    feature_set: str
    transform: ProfileTransform
    points: np.ndarray  # every row through the transform (PCA space)
    candidates: list[Candidate]
    clusterings: dict[tuple[str, int], Clustering]


def search_profiles(
    values: np.ndarray,
    active: np.ndarray,
    feature_set: str,
    columns: tuple[str, ...],
    ks: range,
    min_cluster_share: float,
    seed: int = 0,
    silhouette_sample: int = 2000,
    agglomerative_max_rows: int = 5000,
    methods: tuple[str, ...] = METHODS,
    n_init: int = 4,
) -> ProfileSearch:
    """Fit every method and k on the active rows; silhouette with and without the inactive
    rows (they form one extra group); a candidate is eligible when its smallest cluster holds at
    least `min_cluster_share` of all addresses."""
    if active.sum() < max(ks) + 1:
        raise ValueError(f"only {int(active.sum())} active addresses for up to {max(ks)} profiles")
    transform = ProfileTransform(columns).fit(values[active])
    identical = largest_identical_share(values[active])
    points = transform.transform(values)
    active_points = points[active]
    tree = ward_tree(active_points, agglomerative_max_rows, seed)
    inactive_label = max(ks)  # never a cluster label
    candidates: list[Candidate] = []
    clusterings: dict[tuple[str, int], Clustering] = {}
    for method in methods:
        for k in ks:
            clustering = fit_clustering(method, active_points, k, seed, tree, n_init)
            clusterings[(method, k)] = clustering
            everyone = np.full(len(points), inactive_label)
            everyone[active] = clustering.labels
            smallest = float(clustering.sizes().min() / len(points))
            candidates.append(
                Candidate(
                    feature_set=feature_set,
                    method=method,
                    k=k,
                    silhouette=silhouette(
                        active_points, clustering.labels, silhouette_sample, seed
                    ),
                    silhouette_with_inactive=silhouette(points, everyone, silhouette_sample, seed),
                    smallest_share=smallest,
                    largest_identical_share=identical,
                    eligible=smallest >= min_cluster_share and clustering.k == k,
                )
            )
    return ProfileSearch(feature_set, transform, points, candidates, clusterings)


def largest_identical_share(values: np.ndarray) -> float:
    """Share of rows equal to the most common row: a blob of identical points that lifts the
    silhouette without saying anything about behaviour."""
    _, counts = np.unique(values, axis=0, return_counts=True)
    return float(counts.max() / len(values)) if len(values) else 0.0


def choose(candidates: list[Candidate], min_k: int) -> Candidate:
    """The eligible candidate with k ≥ min_k and the highest silhouette (ties: smaller k)."""
    eligible = [c for c in candidates if c.eligible and c.k >= min_k and not np.isnan(c.silhouette)]
    if not eligible:
        raise ValueError(
            f"no clustering with k ≥ {min_k} keeps every cluster above the minimum share; "
            "lower min_cluster_share or min_k"
        )
    return max(eligible, key=lambda c: (round(c.silhouette, 6), -c.k))


def _describe(
    scaled: np.ndarray, labels: np.ndarray, k: int, columns: tuple[str, ...]
) -> list[list[tuple[str, float]]]:
    """Per cluster: features sorted by how far its mean lies from the active population's,
    in standard deviations of the transformed feature (signed)."""
    result = []
    for cluster in range(k):
        gap = scaled[labels == cluster].mean(axis=0) - scaled.mean(axis=0)
        order = np.argsort(-np.abs(gap))
        result.append([(columns[i], float(gap[i])) for i in order])
    return result


def name_profile(distinct: list[tuple[str, float]]) -> str:
    """A short name from the two most distinctive features: '<adjective> <noun>'."""
    (first, first_gap), (second, second_gap) = distinct[0], distinct[1]
    noun = VOCABULARY[first][2 if first_gap > 0 else 3]
    adjective = VOCABULARY[second][0 if second_gap > 0 else 1]
    return f"{adjective} {noun}"


def _unique_names(names: list[str], distinct: list[list[tuple[str, float]]]) -> list[str]:
    """Names made unique by swapping in the third distinctive feature's adjective."""
    counts = Counter(names)
    unique = []
    for name, features in zip(names, distinct, strict=True):
        if counts[name] > 1 and len(features) > 2:
            third, gap = features[2]
            name = f"{VOCABULARY[third][0 if gap > 0 else 1]}, {name}"
        unique.append(name)
    seen: Counter[str] = Counter()
    final = []
    for name in unique:
        seen[name] += 1
        final.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return final


@dataclass(frozen=True)
class ProfileModel:
    """Everything needed to assign a new address without refitting."""

    feature_set: str
    source_columns: tuple[str, ...]
    columns: tuple[str, ...]
    transform: ProfileTransform
    clustering: Clustering
    names: dict[int, str]  # profile id (1…k; 0 = no activity) → name
    as_of: str

    def assign(self, features: pl.DataFrame, active: np.ndarray) -> pl.DataFrame:
        """profile_id, profile_name, distance (PCA space) and GMM probability per row."""
        values = profile_frame(features, self.feature_set).to_numpy().astype(float)
        labels, distance, probability = predict(self.clustering, self.transform.transform(values))
        ids = np.where(active, labels + 1, NO_ACTIVITY_ID)
        return pl.DataFrame(
            {
                "profile_id": ids.astype(np.int32),
                "profile_name": [self.names[int(i)] for i in ids],
                "distance": np.where(active, distance, np.nan),
                "probability": np.where(active, probability, np.nan),
            }
        )

    def values(self, imputed: pl.DataFrame) -> list[dict[str, float]]:
        """Per row, its values of the profile features (what the page shows beside the name)."""
        return list(profile_frame(imputed, self.feature_set).iter_rows(named=True))

    def save(self, path: Path) -> Path:
        """Pickle the model to `path` atomically."""
        return save_pickle(self, path)


def load_profile_model(path: Path) -> ProfileModel:
    """A model written by `ProfileModel.save`."""
    return load_pickle(path, ProfileModel, "investor_profiles")


@dataclass(frozen=True)
class Profiles:
    """The chosen profiles, their descriptions, the per-address assignment and every candidate."""

    model: ProfileModel
    chosen: Candidate
    candidates: pl.DataFrame
    summary: pl.DataFrame
    assignments: pl.DataFrame
    points_2d: np.ndarray  # first two PCA components of every row (for the 2-D view)


def _entity_kinds(addresses: list[str], entity_labels: dict[str, list[str]], top: int) -> str:
    kinds = Counter(kind for a in addresses for kind in entity_labels.get(a, []))
    labelled = sum(1 for a in addresses if a in entity_labels)
    if not labelled:
        return ""
    listed = ", ".join(f"{kind} ({n})" for kind, n in kinds.most_common(top))
    return f"{labelled} labelled: {listed}"


def build_profiles(
    features: pl.DataFrame,
    active: np.ndarray,
    feature_sets: tuple[str, ...],
    use_feature_set: str,
    ks: range,
    min_cluster_share: float,
    min_k: int,
    seed: int,
    as_of: str,
    silhouette_sample: int = 2000,
    entity_labels: dict[str, list[str]] | None = None,
    n_init: int = 4,
) -> Profiles:
    """Search every feature set, choose in `use_feature_set`, describe and assign.

    `features` holds `address` and the cleaned address_features columns each feature set needs.
    """
    if use_feature_set not in feature_sets:
        raise ValueError(f"feature set {use_feature_set!r} is not among {feature_sets}")
    searches = {}
    for name in feature_sets:
        values = profile_frame(features, name).to_numpy().astype(float)
        searches[name] = (
            values,
            search_profiles(
                values,
                active,
                name,
                FEATURE_SETS[name],
                ks,
                min_cluster_share,
                seed,
                silhouette_sample,
            ),
        )
    candidates = pl.DataFrame(
        [c.__dict__ for _, search in searches.values() for c in search.candidates]
    )
    values, search = searches[use_feature_set]
    chosen = choose(search.candidates, min_k)
    clustering = search.clusterings[(chosen.method, chosen.k)]
    columns = FEATURE_SETS[use_feature_set]
    scaled = search.transform.scaled(values[active])
    distinct = _describe(scaled, clustering.labels, clustering.k, columns)
    names = _unique_names([name_profile(d) for d in distinct], distinct)
    model = ProfileModel(
        feature_set=use_feature_set,
        source_columns=source_columns(use_feature_set),
        columns=columns,
        transform=search.transform,
        clustering=clustering,
        names={NO_ACTIVITY_ID: NO_ACTIVITY_NAME} | {i + 1: n for i, n in enumerate(names)},
        as_of=as_of,
    )
    assigned = model.assign(features, active)
    assignments = pl.concat([features.select("address"), assigned], how="horizontal")
    summary = _summary(features, values, assignments, distinct, model, entity_labels or {})
    return Profiles(
        model=model,
        chosen=chosen,
        candidates=candidates,
        summary=summary,
        assignments=assignments,
        points_2d=search.points[:, :2],
    )


# What each profile feature measures, for descriptions in words.
PROFILE_PHRASES: dict[str, str] = {
    "balance_eth": "ether balance",
    "unique_tokens_held": "distinct tokens held",
    "unique_token_transfers": "token transfers",
    "active_days": "time between first and last activity",
    "transactions": "transactions and token transfers",
    "counterparties": "counterparties",
    "sent_share": "share of its transactions sent (not received)",
    "token_share": "share of token transfers among its transactions",
    "contract_share": "share of the ether it sends that goes to contracts",
    "ether_volume": "ether moved (received plus sent)",
}


def describe_gap(feature: str, gap: float, members: np.ndarray, active: np.ndarray) -> str:
    """How a profile differs on `feature`, in words and units: "higher ether balance (median
    12 ETH against 0.3 ETH for all active addresses)"; means when the medians are equal, and
    the direction of the figures shown (the scaled gap's only when they are equal too)."""
    which = "higher" if gap > 0 else "lower"
    name = PROFILE_PHRASES.get(feature, feature.replace("_", " "))
    if not len(members) or not len(active):
        return f"{which} {name}"
    own, overall, kind = np.median(members), np.median(active), "median"
    if own == overall:
        own, overall, kind = members.mean(), active.mean(), "mean"
    if own != overall:  # the word follows the figures shown, so the two never disagree
        which = "higher" if own > overall else "lower"
    return (
        f"{which} {name} ({kind} {readable(feature, own)} against "
        f"{readable(feature, overall)} for all active addresses)"
    )


def _summary(
    features: pl.DataFrame,
    values: np.ndarray,
    assignments: pl.DataFrame,
    distinct: list[list[tuple[str, float]]],
    model: ProfileModel,
    entity_labels: dict[str, list[str]],
) -> pl.DataFrame:
    """One row per profile: id, name, size, share, median of each feature, what sets it apart
    (the three most distinctive features, in standard deviations from the active population),
    and the most common entity kinds among its labelled members."""
    ids = assignments["profile_id"].to_numpy()
    addresses = features["address"].to_list()
    rows = []
    for profile_id, name in sorted(model.names.items()):
        members = ids == profile_id
        if profile_id == NO_ACTIVITY_ID:
            apart = "no transaction or token transfer before as_of"
        else:
            apart = "; ".join(
                describe_gap(
                    feature,
                    gap,
                    values[members, model.columns.index(feature)],
                    values[ids != NO_ACTIVITY_ID, model.columns.index(feature)],
                )
                for feature, gap in distinct[profile_id - 1][:3]
            )
        row: dict[str, object] = {
            "profile_id": profile_id,
            "profile_name": name,
            "addresses": int(members.sum()),
            "share": round(float(members.mean()), 4),
        }
        for index, column in enumerate(model.columns):
            member_values = values[members, index]
            row[f"median_{column}"] = (
                float(np.median(member_values)) if len(member_values) else float("nan")
            )
        row["sets_apart"] = apart
        row["entity_kinds"] = _entity_kinds(
            [a for a, m in zip(addresses, members, strict=True) if m], entity_labels, 3
        )
        rows.append(row)
    return pl.DataFrame(rows)
