using System.Diagnostics.Tracing;
using System.Globalization;

namespace IIC.GrpcPerf;

/// <summary>
/// Which types a process allocates, from the runtime's GCAllocationTick events (one per ~100 KB allocated, naming the
/// type whose allocation crossed it): with tens of thousands of calls the ticks fall on each per-call type about in
/// proportion to its bytes. <c>IIC_ALLOC_TYPES=1</c> turns it on in both GrpcPerf processes; each prints its table when
/// it ends. A diagnostic for finding what a call allocates (round 25), not a measurement.
/// </summary>
internal sealed class AllocationTypes : EventListener
{
    public const string Variable = "IIC_ALLOC_TYPES";

    private readonly Dictionary<string, (int Ticks, long Bytes)> _types = [];
    private readonly Lock _lock = new();
    private bool _counting;

    /// <summary>The client's listener (the measured unary block starts and prints it), or null.</summary>
    public static AllocationTypes? Client { get; } = FromEnvironment();

    /// <summary>A listener if <c>IIC_ALLOC_TYPES=1</c>, else null.</summary>
    public static AllocationTypes? FromEnvironment() => Environment.GetEnvironmentVariable(Variable) == "1" ? new AllocationTypes() : null;

    /// <summary>Counts from now (the warm-up's ticks, JIT and start-up included, are dropped).</summary>
    public void Start()
    {
        lock (_lock)
        {
            _types.Clear();
            _counting = true;
        }
    }

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1); // GC keyword: AllocationTick at Verbose
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is not { } name || !name.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null)
        {
            return;
        }
        var type = e.PayloadNames!.IndexOf("TypeName") is >= 0 and var t ? e.Payload[t] as string ?? "?" : "?";
        var bytes = e.PayloadNames.IndexOf("AllocationAmount64") is >= 0 and var b ? Convert.ToInt64(e.Payload[b], CultureInfo.InvariantCulture) : 0;
        lock (_lock)
        {
            if (_counting)
            {
                _types[type] = _types.TryGetValue(type, out var seen) ? (seen.Ticks + 1, seen.Bytes + bytes) : (1, bytes);
            }
        }
    }

    /// <summary>The types by ticks, most first, each with its share of all ticks.</summary>
    public void Print(string who)
    {
        lock (_lock)
        {
            var total = Math.Max(1, _types.Values.Sum(v => v.Ticks));
            Console.Error.WriteLine($"{who}: allocation ticks by type ({total} ticks, ~100 KB each)");
            foreach (var (type, (ticks, _)) in _types.OrderByDescending(kv => kv.Value.Ticks))
            {
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {ticks,6} {100.0 * ticks / total,5:0.0} %  {type}"));
            }
        }
    }
}
