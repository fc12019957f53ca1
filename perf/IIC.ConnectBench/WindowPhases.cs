using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.Native;

namespace IIC.ConnectBench;

/// <summary>
/// <c>IIC.ConnectBench phases [rounds]</c> (round 14): the window steps of one connection cycle measured apart, the
/// hypervisor's way up to round 13 ("mapped": the pool maps each fresh memfd and touches its first pages, the grant
/// writes the header through the mapping, retirement unmaps and closes) against round 14's ("held": the pool pwrites
/// the default header with the same pages, a default grant writes nothing, retirement closes), interleaved round by round in one
/// process. Between the grant and the retirement a "partition" maps the window as SharedWindow.Open does (seals,
/// fstat, mmap, its first touches: header, both interrupt blocks, each ring's first line) and unmaps it, so its first
/// touches show whether the pages it finds are present either way. The steps are the syscalls the library makes
/// (IIC.Hardware's HeldWindow and WindowPool), replayed with IIC.Native: the bench has no access to the library's internals.
/// Prints per step the minimum, p50 and p90 in µs.
/// </summary>
internal static class WindowPhases
{
    private const int Page = 4096;

    public static int Run(string[] args)
    {
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2000;
        // The default window's shape, from the library itself.
        long total, ring0, ring1;
        int headerExtent;
        byte[] header;
        using (var reference = SharedWindow.Create(WindowOptions.WithCapacity(WindowOptions.DefaultRingCapacity)))
        {
            total = reference.Size;
            ring0 = reference.GetRing(0).Offset;
            ring1 = reference.GetRing(1).Offset;
            headerExtent = (int)ring0 / 2; // the header and both interrupt blocks: 1792 bytes of the first page; half a page is the same syscall and copy
            header = reference.Memory.GetSpan(0, headerExtent).ToArray();
        }
        var zeros = new byte[2 * Page];
        var firstRegion = new byte[(int)ring0 + Page];
        header.CopyTo(firstRegion, 0);
        var headerAtGrant = Environment.GetEnvironmentVariable("IIC_PHASES_HEADER_AT_GRANT") == "1";
        var faultsMapped = new long[1];
        var faultsHeld = new long[1];
        string[] steps = ["pool refill", "grant header", "partition open", "partition touches", "partition unmap+close", "retire"];
        var mapped = new double[steps.Length][];
        var held = new double[steps.Length][];
        for (var s = 0; s < steps.Length; s++)
        {
            mapped[s] = new double[rounds];
            held[s] = new double[rounds];
        }
        for (var i = -200; i < rounds; i++)
        {
            var keep = i >= 0;
            Cycle(mapped: true, keep ? mapped : null, i);
            Cycle(mapped: false, keep ? held : null, i);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"window steps of a connection cycle, {rounds} interleaved rounds, default window ({total} bytes), µs: min / p50 / p90"));
        Console.WriteLine("  step                     mapped (<= round 13)        held (round 14)");
        double sumMapped = 0, sumHeld = 0;
        for (var s = 0; s < steps.Length; s++)
        {
            Array.Sort(mapped[s]);
            Array.Sort(held[s]);
            sumMapped += mapped[s][rounds / 2];
            sumHeld += held[s][rounds / 2];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {steps[s],-22} {mapped[s][0],6:0.00} {mapped[s][rounds / 2],6:0.00} {mapped[s][rounds * 9 / 10],6:0.00}      {held[s][0],6:0.00} {held[s][rounds / 2],6:0.00} {held[s][rounds * 9 / 10],6:0.00}"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  sum of p50s            {sumMapped,20:0.00}      {sumHeld,20:0.00}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  partition's minor faults per cycle in its first touches (warm-up rounds): mapped {faultsMapped[0] / 200.0:0.00}, held {faultsHeld[0] / 200.0:0.00}"));
        return 0;

        void Cycle(bool mapped, double[][]? into, int round)
        {
            var t0 = Stopwatch.GetTimestamp();
            var file = MemoryFile.Create("iic-window");
            MemoryFile.SetSize(file, total);
            MemoryFile.AddSeals(file, FileSeals.Shrink | FileSeals.Grow | FileSeals.Seal);
            MappedMemory? memory = null;
            if (mapped)
            {
                memory = MappedMemory.Map(file, total, populate: false);
                Touch(memory, 0, ring0 + Page);
                Touch(memory, ring1, ring1 + Page);
            }
            else
            {
                // HeldWindow.Prepare: the default header with the rest of the header page and ring 0's first page, then ring 1's first page.
                MemoryFile.WriteAt(file, firstRegion, 0);
                MemoryFile.WriteAt(file, zeros.AsSpan(0, Page), ring1);
            }
            var t1 = Stopwatch.GetTimestamp();
            if (memory is not null)
            {
                header.CopyTo(memory.GetSpan(0, headerExtent)); // SharedWindow.Format through the mapping
            }
            else if (headerAtGrant)
            {
                MemoryFile.WriteAt(file, header, 0); // a grouped grant's rewrite (IIC_PHASES_HEADER_AT_GRANT=1 measures it)
            } // else HeldWindow.Adopt of a default grant: nothing
            var t2 = Stopwatch.GetTimestamp();
            // The partition: SharedWindow.Open's checks and mmap (a second descriptor of the same file, as SCM_RIGHTS gives).
            var path = "/proc/self/fd/" + file.Value.ToString(CultureInfo.InvariantCulture);
            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
            var partitionFile = new FileDescriptor((int)handle.DangerousGetHandle());
            handle.SetHandleAsInvalid();
            var t3 = Stopwatch.GetTimestamp();
            _ = MemoryFile.GetSeals(partitionFile);
            _ = partitionFile.GetStatus();
            var view = MappedMemory.Map(partitionFile, total, populate: false);
            var faultsBefore = into is null && round < 0 ? MinorFaults() : 0;
            var t4 = Stopwatch.GetTimestamp();
            FirstTouches(view, ring0, ring1);
            var t5 = Stopwatch.GetTimestamp();
            if (into is null && round < 0)
            {
                (mapped ? faultsMapped : faultsHeld)[0] += MinorFaults() - faultsBefore;
            }
            view.Dispose();
            partitionFile.Dispose();
            var t6 = Stopwatch.GetTimestamp();
            memory?.Dispose();
            file.Dispose();
            var t7 = Stopwatch.GetTimestamp();
            if (into is not null)
            {
                into[0][round] = Micro(t1 - t0);
                into[1][round] = Micro(t2 - t1);
                into[2][round] = Micro(t4 - t3);
                into[3][round] = Micro(t5 - t4);
                into[4][round] = Micro(t6 - t5);
                into[5][round] = Micro(t7 - t6);
            }
        }
    }

    /// <summary>This thread's minor faults so far (/proc/thread-self/stat, field 10).</summary>
    private static long MinorFaults()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], CultureInfo.InvariantCulture); // fields after the name start at field 3: minflt is field 10
    }

    private static double Micro(long ticks) => ticks * 1e6 / Stopwatch.Frequency;

    private static unsafe void Touch(MappedMemory memory, long start, long end)
    {
        using var lease = memory.Lease();
        for (var offset = start; offset < end; offset += Page)
        {
            lease.Base[offset] = 0;
        }
    }

    private static unsafe void FirstTouches(MappedMemory view, long ring0, long ring1)
    {
        using var lease = view.Lease();
        var b = lease.Base;
        _ = Volatile.Read(ref *(ulong*)b); // the magic
        _ = Volatile.Read(ref *(long*)(b + 512 + 128)); // interrupt block 0
        _ = Volatile.Read(ref *(long*)(b + 1152 + 128)); // interrupt block 1
        Volatile.Write(ref *(long*)(b + ring0), 0); // ring 0's control line (the listener's endpoint writes it first)
        Volatile.Write(ref *(long*)(b + ring1), 0); // ring 1's
    }
}

/// <summary>
/// <c>IIC.ConnectBench unmap-batch [rounds]</c> (round 14): what a partition's deferred unmaps cost as the
/// <c>IIC unmap</c> thread does them (one munmap per window, a batch of 16) against one munmap per run of adjacent
/// windows (the kernel places consecutive mappings next to each other), interleaved. Each window is a default-size
/// memfd mapping with the five pages a cycle touches. Prints µs per window and how many runs 16 windows made.
/// </summary>
internal static class UnmapBatch
{
    private const int Batch = 16;

    public static unsafe int Run(string[] args)
    {
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 300;
        const long Size = 2109440;
        var each = new List<double>();
        var coalesced = new List<double>();
        var runsTotal = 0;
        for (var r = -20; r < rounds; r++)
        {
            for (var variant = 0; variant < 2; variant++)
            {
                var maps = new (nint Address, FileDescriptor File)[Batch];
                for (var i = 0; i < Batch; i++)
                {
                    var file = MemoryFile.Create("iic-window");
                    MemoryFile.SetSize(file, Size);
                    var address = Interop.Libc.Mmap(0, (nuint)Size, Interop.Libc.PROT_READ | Interop.Libc.PROT_WRITE, Interop.Libc.MAP_SHARED, file.Value, 0);
                    var b = (byte*)address;
                    b[0] = 1; b[4096] = 1; b[1056768] = 1; b[512 + 128] = 1; b[1152 + 128] = 1;
                    file.Dispose(); // the descriptor is closed at once, as a channel's close does; the mapping keeps the file
                    maps[i] = (address, file);
                }
                var start = Stopwatch.GetTimestamp();
                if (variant == 0)
                {
                    foreach (var (address, _) in maps)
                    {
                        _ = Interop.Libc.Munmap(address, (nuint)Size);
                    }
                }
                else
                {
                    var sorted = maps.Select(m => m.Address).Order().ToArray();
                    var runStart = sorted[0];
                    var runEnd = sorted[0] + (nint)Size;
                    var runs = 0;
                    for (var i = 1; i <= sorted.Length; i++)
                    {
                        if (i < sorted.Length && sorted[i] == runEnd)
                        {
                            runEnd += (nint)Size;
                            continue;
                        }
                        _ = Interop.Libc.Munmap(runStart, (nuint)(runEnd - runStart));
                        runs++;
                        if (i < sorted.Length)
                        {
                            runStart = sorted[i];
                            runEnd = sorted[i] + (nint)Size;
                        }
                    }
                    if (r >= 0)
                    {
                        runsTotal += runs;
                    }
                }
                var perWindow = Stopwatch.GetElapsedTime(start).TotalMicroseconds / Batch;
                if (r >= 0)
                {
                    (variant == 0 ? each : coalesced).Add(perWindow);
                }
            }
        }
        each.Sort();
        coalesced.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"deferred unmaps, {rounds} interleaved batches of {Batch} default windows, µs per window min / p50 / p90: one munmap each {each[0]:0.00} / {each[rounds / 2]:0.00} / {each[rounds * 9 / 10]:0.00}; one munmap per adjacent run {coalesced[0]:0.00} / {coalesced[rounds / 2]:0.00} / {coalesced[rounds * 9 / 10]:0.00} ({runsTotal / (double)rounds:0.0} runs per batch)"));
        return 0;
    }
}
