using BenchmarkDotNet.Attributes;
using IIC.Hardware;

namespace IIC.Benchmarks;

/// <summary>
/// One record through one ring in one thread: write (or claim + commit), then peek + consume. Measures the
/// protocol's instruction cost with every line already in this core's cache (no cross-core transfer).
/// </summary>
[MemoryDiagnoser]
public class RingBenchmarks
{
    private static readonly int s_whole = (int)RecordFraming.Unfragmented;

    private SharedWindow _window = null!;
    private RingWriter _writer = null!;
    private RingReader _reader = null!;
    private byte[] _payload = null!;

    [Params(8, 32, 256, 4096)]
    public int PayloadBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _window = SharedWindow.Create(WindowOptions.WithCapacity(1 << 20));
        var ring = _window.GetRing(0);
        _writer = ring.CreateWriter();
        _reader = ring.CreateReader();
        _payload = new byte[PayloadBytes];
        Random.Shared.NextBytes(_payload);
    }

    [GlobalCleanup]
    public void Cleanup() => _window.Dispose();

    [Benchmark(Description = "TryWrite+TryPeek+Consume")]
    public int WriteRead()
    {
        _writer.TryWrite(_payload, s_whole);
        _reader.TryPeek(out _, out var payload);
        var length = payload.Length;
        _reader.Consume();
        return length;
    }

    [Benchmark(Description = "TryClaim+Commit+TryPeek+Consume")]
    public int ClaimCommitRead()
    {
        _writer.TryClaim(PayloadBytes, 0, out var span);
        span[0] = 1;
        _writer.Commit(s_whole);
        _reader.TryPeek(out _, out var payload);
        var length = payload.Length;
        _reader.Consume();
        return length;
    }
}
