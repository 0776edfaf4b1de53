# Firestore: the native-mode database, every composite index a query in the code needs, and the
# single-field overrides. The emulator enforces no index rule, so a query whose index is missing
# here passes every local test and fails in production: each query in shared/store names its
# index, and this file must list it.

locals {
  firestore_database = "(default)"

  # Explore = `sliceIds array-contains S` + `order by <field>` + cursor: one composite index per
  # (collection, sort field, direction). Firestore appends the row id (__name__) that breaks
  # ties in the direction of the last field. The sort fields are those the API accepts
  # (shared/services/ordering.py), written as document paths.
  catalog_sort_paths = [
    "createdAt", "updatedAt", "globalKey", "dataset", "mediaType",
    "media.width", "media.height", "media.sizeBytes", "labelCount",
  ]
  # The per-row metrics of a model run (shared/filters/fields.py METRIC_NAMES).
  metric_names              = ["tp", "fp", "fn", "tn", "precision", "recall", "f1", "iou", "confidence", "mislabelConfidence"]
  model_run_only_sort_paths = ["predictionCount"]
  model_run_sort_paths = concat(
    local.catalog_sort_paths,
    local.model_run_only_sort_paths,
    [for metric in local.metric_names : "metrics.${metric}"],
  )
  # Collection ids: `dataRows` (the catalog) and `rows` (modelRuns/{run}/rows). Queries run on
  # one collection, so COLLECTION scope serves them; a query across all runs would need
  # COLLECTION_GROUP indexes.
  explore_sort_fields = {
    dataRows = local.catalog_sort_paths
    rows     = local.model_run_sort_paths
  }

  explore_indexes = {
    for index in flatten([
      for collection, sort_fields in local.explore_sort_fields : [
        for field in sort_fields : [
          for order in ["ASCENDING", "DESCENDING"] : {
            key        = "${collection}.sliceIds.${field}.${lower(order)}"
            collection = collection
            fields = [
              { field_path = "sliceIds", order = null, array_config = "CONTAINS" },
              { field_path = field, order = order, array_config = null },
            ]
          }
        ]
      ]
    ]) : index.key => index
  }

  # `id desc` sorts on the row's `id` field (a copy of the document id: Firestore cannot scan
  # document ids backwards after a filter), so exploring a slice by id descending needs
  # (sliceIds CONTAINS, id DESCENDING). Ascending id order uses the built-in __name__ index.
  id_descending_indexes = {
    for collection in keys(local.explore_sort_fields) : "${collection}.sliceIds.id.descending" => {
      collection = collection
      fields = [
        { field_path = "sliceIds", order = null, array_config = "CONTAINS" },
        { field_path = "id", order = "DESCENDING", array_config = null },
      ]
    }
  }

  # Import reports newest first, of one object name or of one kind (Firestore merges the two
  # when both filter).
  import_report_indexes = {
    for field in ["object", "kind"] : "importReports.${field}.createdAt.descending" => {
      collection = "importReports"
      fields = [
        { field_path = field, order = "ASCENDING", array_config = null },
        { field_path = "createdAt", order = "DESCENDING", array_config = null },
      ]
    }
  }

  # The one list of composite indexes: explore's, id descending, the slice list of a scope and
  # the import report lists, newest first. Equality filters (merged by Firestore), a filter and
  # order on one field, and `sliceEnteredAt.<slice> > watermark` (actions) use the automatic
  # single-field indexes.
  composite_indexes = merge(local.explore_indexes, local.id_descending_indexes, local.import_report_indexes, {
    "slices.scopeKey.createdAt.descending" = {
      collection = "slices"
      fields = [
        { field_path = "scopeKey", order = "ASCENDING", array_config = null },
        { field_path = "createdAt", order = "DESCENDING", array_config = null },
      ]
    }
  })

  # Arrays of annotations and predictions would add an index entry per element and value (and a
  # document may have at most 40,000): no query reads them, filters use the flattened fields
  # (labelClasses, labelCount, predictionClasses, ...). `sliceEnteredAt` must stay indexed:
  # actions ask for `sliceEnteredAt.<slice> > watermark`, so it gets no override here.
  unindexed_fields = {
    "dataRows.labels"  = { collection = "dataRows", field = "labels" }
    "rows.labels"      = { collection = "rows", field = "labels" }
    "rows.predictions" = { collection = "rows", field = "predictions" }
    # Per-class counts: one map entry per class, read whole, never queried.
    "rows.classCounts"      = { collection = "rows", field = "classCounts" }
    "modelRuns.classTotals" = { collection = "modelRuns", field = "classTotals" }
  }
}

resource "google_firestore_database" "main" {
  count = var.manage_firestore_database ? 1 : 0

  name                              = local.firestore_database
  location_id                       = coalesce(var.firestore_location, var.region)
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = var.firestore_point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.firestore_delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # Removing the database from the configuration must never delete the data.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.enabled]
}

resource "google_firestore_index" "composite" {
  for_each = local.composite_indexes

  database    = local.firestore_database
  collection  = each.value.collection
  query_scope = "COLLECTION"
  api_scope   = "ANY_API"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.field_path
      order        = fields.value.order
      array_config = fields.value.array_config
    }
  }

  depends_on = [google_firestore_database.main]
}

resource "google_firestore_field" "unindexed" {
  for_each = local.unindexed_fields

  database   = local.firestore_database
  collection = each.value.collection
  field      = each.value.field

  # An empty index_config removes every single-field index of the field.
  index_config {}

  depends_on = [google_firestore_database.main]
}

# Model-run rows follow their data rows (shared/model_runs/sync.py, shared/store/model_runs.py):
# `collection_group("rows").where("id", "in", [...])` finds every run holding a data row, which
# needs a COLLECTION_GROUP index on rows.id. An override replaces the field's automatic indexes,
# so the collection-scope ones (`id desc` sorts a run's rows) are listed again.
resource "google_firestore_field" "model_run_row_id" {
  database   = local.firestore_database
  collection = "rows"
  field      = "id"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "DESCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }

  depends_on = [google_firestore_database.main]
}

resource "google_firestore_field" "ttl" {
  for_each = { for ttl in var.firestore_ttl_fields : "${ttl.collection}.${ttl.field}" => ttl }

  database   = local.firestore_database
  collection = each.value.collection
  field      = each.value.field

  ttl_config {}
  # An expiry time only grows, and no query reads it: unindexed, it cannot hot-spot writes.
  index_config {}

  depends_on = [google_firestore_database.main]
}
