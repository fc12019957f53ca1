using System.Diagnostics;
using System.Runtime.InteropServices;
using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// Single-threaded memcpy bandwidth for one size (1 MiB by default), between two page-aligned native buffers, in
/// this process: the yardstick for large-message throughput (a transport copies each message at least once).
/// </summary>
internal static unsafe class MemcpyBench
{
    public const string Name = "memcpy";

    public static BenchResult Run(BenchTest test, int size, double warmupS, double durationS)
    {
        const int Alignment = 4096;
        var source = (byte*)NativeMemory.AlignedAlloc((nuint)size, Alignment);
        var destination = (byte*)NativeMemory.AlignedAlloc((nuint)size, Alignment);
        try
        {
            new Span<byte>(source, size).Fill(0x5A);
            new Span<byte>(destination, size).Clear();
            Copy(source, destination, size, warmupS, MinWarmupCopies);
            var cpuStart = CpuClock.ProcessSeconds;
            var start = Stopwatch.GetTimestamp();
            var copies = Copy(source, destination, size, durationS, 1);
            // Like every receiver, read what arrived: memcpy's bandwidth is the yardstick for bytes delivered.
            if (PayloadChecksum.Sum(new ReadOnlySpan<byte>(destination, size)) != PayloadChecksum.Sum(new ReadOnlySpan<byte>(source, size)))
            {
                throw new InvalidDataException("memcpy delivered different bytes.");
            }
            var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var cpu = CpuClock.ProcessSeconds - cpuStart;
            return new BenchResult
            {
                Test = test.ToName(),
                Transport = Name,
                Mode = "-",
                Api = "memcpy",
                Size = size,
                Count = copies,
                MsgsPerS = (long)(copies / elapsed),
                BytesPerS = (long)(copies * (double)size / elapsed),
                CpuS = Math.Round(cpu, 4),
                CpuClientS = Math.Round(cpu, 4),
                ElapsedS = Math.Round(elapsed, 4),
            };
        }
        finally
        {
            NativeMemory.AlignedFree(source);
            NativeMemory.AlignedFree(destination);
        }
    }

    /// <summary>
    /// The warm-up copies at least this often, however short its time: both buffers are already touched (filled and
    /// cleared above), so what is left to warm is the copy loop itself and the caches.
    /// </summary>
    private const int MinWarmupCopies = 4;

    private static long Copy(byte* source, byte* destination, int size, double seconds, int minCopies)
    {
        var end = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        long copies = 0;
        do
        {
            Buffer.MemoryCopy(source, destination, size, size);
            copies++;
        }
        while (copies < minCopies || Stopwatch.GetTimestamp() < end);
        return copies;
    }
}
