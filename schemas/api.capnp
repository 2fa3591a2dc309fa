# Client RPC. A client bootstraps a Meld capability and asks it for the service it needs.
#
# Errors: a call that fails as a whole throws a Cap'n Proto exception whose description starts
# with a stable code name and a colon ("invalid_argument: key is 5000 bytes, limit 4096");
# the client library turns that back into a Status. Batch calls report per-item errors in their
# results and apply the valid items.
@0xf770d0dee0fdf3cc;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("meld::api");

# Limits the server enforces on every request (and the client library checks before sending).
const maxKeyBytes :UInt32 = 4096;              # kv keys, counter names, set names, set members
const maxValueBytes :UInt32 = 1048576;         # kv values (1 MiB)
const maxScanEntries :UInt32 = 1000;           # entries per scan / list call
const maxSetMembersPerCall :UInt32 = 10000;    # members in one add / remove / containsAll call
const maxPendingRequests :UInt32 = 256;        # out-of-order request ids a counter or set holds
const maxSeriesPerWrite :UInt32 = 10000;       # series in one metrics write
const maxSamplesPerWrite :UInt32 = 100000;     # samples in one metrics write, all series together
const maxWriterSeries :UInt32 = 1000000;       # series numbers one MetricsWriter binds (ids 1..this)
const maxReadSamples :UInt32 = 100000;         # samples returned by one metrics read
const maxLabels :UInt32 = 32;                  # labels per series, __name__ included
const maxLabelNameBytes :UInt32 = 128;
const maxLabelValueBytes :UInt32 = 2048;
const maxRpcMessageBytes :UInt32 = 33554432;   # one RPC message (32 MiB); larger closes the call
const maxQueryExprBytes :UInt32 = 16384;       # expression text of one metrics query
const maxQuerySeries :UInt32 = 10000;          # series one query may select from storage
const maxQuerySamples :UInt64 = 50000000;      # samples one query may load from storage
const maxQuerySteps :UInt32 = 11000;           # evaluation steps: (endMs - startMs) / stepMs + 1
const maxQueryPoints :UInt32 = 1000000;        # points one query returns, all series together

interface Meld {
  kv @0 () -> (kv :Kv);
  counters @1 () -> (counters :Counters);
  sets @2 () -> (sets :Sets);
  metrics @3 () -> (metrics :Metrics);
  admin @4 () -> (admin :Admin);
}

struct KeyValue {
  key @0 :Data;
  value @1 :Data;
}

# Key/value. Every acknowledged write is durable (fsynced by group commit).
interface Kv {
  get @0 (key :Data) -> (found :Bool, value :Data);
  put @1 (key :Data, value :Data) -> ();
  delete @2 (key :Data) -> ();
  # Keys in [start, end) in order; an empty end means no upper bound. limit 0 means the server's
  # maximum. more is true when keys remain: continue from the last key returned plus "\0".
  scan @3 (start :Data, end :Data, limit :UInt32) -> (entries :List(KeyValue), more :Bool);
}

# Counters with PN-counter semantics: increments and decrements commute.
interface Counters {
  # Adds delta (negative to decrement); value is the counter after this write became durable.
  # A nonzero requestSequence makes the add retry-safe: (requestSession, requestSequence) names
  # it, and the same id applied again, however often, counts once. A session is a random 64-bit
  # id; it numbers its requests 1, 2, 3, ... and resends the same delta on a retry. A request
  # that is not its session's next is refused (resource_exhausted) while the counter already
  # holds maxPendingRequests such out-of-order requests.
  add @0 (name :Data, delta :Int64, requestSession :UInt64, requestSequence :UInt64)
      -> (value :Int64);
  get @1 (name :Data) -> (value :Int64);
}

# Sets of byte-string members: add-wins observed-remove sets (crdt::AwSet semantics), stored one key
# per member (storage/big_set.h). A remove removes the adds it observed; an add concurrent with it
# survives. add and remove are atomic: every member of the call or none.
# A nonzero requestSequence makes the call retry-safe, as for Counters.add: the call names the
# request ids (requestSession, requestSequence + i) for its members i = 0, 1, ..., one per member
# (the session's next call continues at requestSequence + len(members)), and a member's update whose
# id was applied already, by this call or an earlier attempt of it, is skipped. A retry resends the
# same members in the same order. invalid_argument when requestSequence + len(members) - 1
# overflows. A call whose first id is not its session's next is refused (resource_exhausted) while
# the set holds maxPendingRequests ids out of order.
interface Sets {
  add @0 (set :Data, members :List(Data), requestSession :UInt64, requestSequence :UInt64) -> ();
  remove @1 (set :Data, members :List(Data), requestSession :UInt64, requestSequence :UInt64)
      -> ();
  contains @2 (set :Data, member :Data) -> (present :Bool);
  # Members greater than after, in byte order, at most limit (0 = server maximum).
  list @3 (set :Data, after :Data, limit :UInt32) -> (members :List(Data), more :Bool);
  # contains for each member, present[i] for members[i], read in one batch (at most
  # maxSetMembersPerCall members; more is invalid_argument).
  containsAll @4 (set :Data, members :List(Data)) -> (present :List(Bool));
}

struct Label {
  name @0 :Text;
  value @1 :Text;
}

struct Sample {
  timestampMs @0 :Int64;
  value @1 :Float64;
}

# One series (its full label set, the metric name under "__name__") and samples for it.
struct SeriesSamples {
  labels @0 :List(Label);
  samples @1 :List(Sample);
  # MetricsWriter.write only (Metrics.write refuses a non-zero id): the writer's number for this
  # series, 1..maxWriterSeries, so that its labels travel once per writer instead of once per
  # write. The first item naming an id carries the labels too and binds the id to them; later
  # items may leave labels empty. 0: no number, the labels are required.
  id @2 :UInt32;
}

struct ItemError {
  series @0 :UInt32;      # index into the request's series list
  sample @1 :UInt32;      # index into that series' samples; 0xFFFFFFFF for the whole series
  code @2 :Text;          # status code name
  message @3 :Text;
}

interface Metrics {
  # Stores the valid samples of every valid series; reports the rest item by item.
  write @0 (series :List(SeriesSamples)) -> (accepted :UInt64, errors :List(ItemError));
  # Samples of the series with exactly these labels, with fromMs <= timestampMs < toMs, in time
  # order, at most limit (0 = server maximum). more is true when samples remain.
  read @1 (labels :List(Label), fromMs :Int64, toMs :Int64, limit :UInt32)
      -> (samples :List(Sample), more :Bool);
  # Evaluates a PromQL-subset expression (selectors with = != =~ !~; rate, increase and
  # min|max|sum|count|avg|quantile_over_time over a range; sum|min|max|avg|count|quantile with
  # by/without) at every step from startMs to endMs inclusive (startMs <= endMs, stepMs > 0), as
  # Prometheus' query_range does. Each result series has its labels (the metric name dropped
  # where Prometheus drops it) and its points in time order. Fails as a whole: invalid_argument
  # for a malformed expression or range; resource_exhausted naming the limit when one of the
  # maxQuery* limits is passed. samplesLoaded counts the samples read from storage.
  query @2 (expr :Text, startMs :Int64, endMs :Int64, stepMs :Int64)
      -> (series :List(QuerySeries), samplesLoaded :UInt64);
  # A writer: a stream of writes whose series are named by numbers after their first write.
  openWriter @3 () -> (writer :MetricsWriter);
}

# Writes in which a series' labels are sent once, with a number (SeriesSamples.id) that later
# writes use instead: for agents that send the same series over and over (a scrape sends one or a
# few samples of each series per write, and the labels are most of the bytes). The numbers are
# the writer's own: another writer, or a writer opened again after a reconnect, knows none of
# them. The server keeps, per writer, one slot per number up to the largest used (so pick them
# densely from 1) and the label sets bound; both go when the writer is released. Bindings
# survive any failure of the write that made them: they are made when an item's id and labels
# are read, whatever happens to its samples. Item errors besides Metrics.write's: not_found for
# an id without labels that this writer has not bound (send the labels with it again);
# invalid_argument for an id past maxWriterSeries, or one bound to another label set.
interface MetricsWriter {
  write @0 (series :List(SeriesSamples)) -> (accepted :UInt64, errors :List(ItemError));
}

struct QuerySeries {
  labels @0 :List(Label);
  points @1 :List(Sample);
}

struct NodeStatus {
  nodeId @0 :UInt64;
  clusterId @1 :UInt64;
  version @2 :Text;
  rpcAddress @3 :Text;
  peerAddress @4 :Text;
  dataDir @5 :Text;
  uptimeMs @6 :Int64;
  storage @7 :StorageStats;
  activeClients @8 :UInt32;
  timeSeries @9 :TimeSeriesStats;
}

struct StorageStats {
  commitGroups @0 :UInt64;     # fsynced group commits since start
  committedBatches @1 :UInt64; # write batches carried by those groups
  liveDataBytes @2 :UInt64;    # RocksDB's estimate of live data
  syncWrites @3 :Bool;         # whether every group is fsynced
}

# The time-series store's memory and write-ahead backlog (storage/ts_store.h, TsStoreStats).
struct TimeSeriesStats {
  seriesInMemory @0 :UInt64;    # series held in memory (heads, ids, label sets)
  headBytes @1 :UInt64;         # bytes of open head chunks and late samples
  walBytes @2 :UInt64;          # write-ahead bytes not yet sealed into blocks
  walRecords @3 :UInt64;        # write-ahead records not yet sealed into blocks
  sealedBlocks @4 :UInt64;      # blocks written since start, rewrites included
  rewrittenBlocks @5 :UInt64;   # sealed blocks replaced because late samples fell among them
}

interface Admin {
  status @0 () -> (status :NodeStatus);
}
