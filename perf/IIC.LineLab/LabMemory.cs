using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.Native;

namespace IIC.LineLab;

/// <summary>
/// The memfd both processes map, and the child that echoes. Layout: a control line (run id, step, round trips, ring
/// bytes), the child's done line, then two rings laid out as iic's (docs/window-layout.md section 2: tail at +0, head
/// at +128, armed at +256, room armed at +320, data from +384): ring A carries client to server, ring B the echo. The
/// flag-line steps use each ring's first data line as the probe uses its ping and pong lines.
/// </summary>
internal sealed unsafe class LabMemory : IDisposable
{
    public const int MaxRing = 1 << 20;
    private const int ControlRun = 0;      // long: run id, written last by the parent (release); -1 ends the child
    private const int ControlStep = 8;     // int: the step's index in Steps.All
    private const int ControlTrips = 12;   // int: round trips
    private const int DoneRun = 128;       // long: the child stores the run id when its echo loop ended
    private const int RingA = 4096;
    private const int RingSpan = (384 + MaxRing + 4095) & ~4095;
    private const int RingB = RingA + RingSpan;
    private const long Length = RingB + RingSpan;

    private readonly MappedMemory _memory;
    private readonly MappingLease _lease;
    private readonly Process? _child;
    private long _run;

    private LabMemory(MappedMemory memory, Process? child)
    {
        _memory = memory;
        _lease = memory.Lease();
        _child = child;
    }

    // The SafeHandle's handle is the mapping's address (MappedMemory.IsInvalid); the lease keeps it mapped.
    private byte* Base => (byte*)_memory.DangerousGetHandle();

    /// <summary>Creates the memfd and starts the echoing child on it.</summary>
    public static LabMemory StartChild(string verb)
    {
        using var file = MemoryFile.Create("iic-linelab");
        MemoryFile.SetSize(file, Length);
        var memory = MappedMemory.Map(file, Length);
        file.CloseOnExec = false;
        var window = SharedWindow.Create(WindowOptions.WithCapacity(MaxRing), "iic-linelab-window");
        window.File.CloseOnExec = false;
        IicRingStep.Window = window;
        var channelWindows = new SharedWindow[EchoRungStep.Variants];
        for (var k = 0; k < channelWindows.Length; k++)
        {
            channelWindows[k] = SharedWindow.Create(WindowOptions.WithCapacity(MaxRing), "iic-linelab-channel");
            channelWindows[k].File.CloseOnExec = false;
        }
        EchoRungStep.Windows = channelWindows;
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var start = new ProcessStartInfo(path) { UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(path) == "dotnet")
        {
            start.ArgumentList.Add(typeof(LabMemory).Assembly.Location);
        }
        start.ArgumentList.Add(verb);
        start.ArgumentList.Add(file.Value.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add(window.File.Value.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add(string.Join(',', channelWindows.Select(w => w.File.Value.ToString(CultureInfo.InvariantCulture))));
        var child = Process.Start(start) ?? throw new InvalidOperationException("Process.Start returned null.");
        return new LabMemory(memory, child);
    }

    /// <summary>One step: zero both rings (the child is idle), start the child's echo, time the round trips.</summary>
    public void Run(Step step, int trips, long[] samples)
    {
        new Span<byte>(Base + RingA, RingSpan).Clear();
        new Span<byte>(Base + RingB, RingSpan).Clear();
        var index = Array.IndexOf(Steps.All, step);
        *(int*)(Base + ControlStep) = index;
        *(int*)(Base + ControlTrips) = trips;
        var run = ++_run;
        Volatile.Write(ref *(long*)(Base + ControlRun), run); // release: the step, the trips and the zeroed rings first
        step.Client(Base + RingA, Base + RingB, trips, samples);
        var giveUp = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
        while (Volatile.Read(ref *(long*)(Base + DoneRun)) != run)
        {
            if (Stopwatch.GetTimestamp() > giveUp)
            {
                throw new TimeoutException("the echo child did not finish its run");
            }
        }
    }

    public void Dispose()
    {
        Volatile.Write(ref *(long*)(Base + ControlRun), -1);
        if (_child is not null)
        {
            if (!_child.WaitForExit(TimeSpan.FromSeconds(5)))
            {
                _child.Kill();
            }
            _child.Dispose();
        }
        _lease.Dispose();
        _memory.Dispose();
    }

    /// <summary>The child: waits for a run id, echoes that step's round trips, stores the id in its done line.</summary>
    public static int RunChild(int fd, int windowFd, string channelWindowFds)
    {
        using var window = SharedWindow.Open(new FileDescriptor(windowFd));
        IicRingStep.Window = window;
        // The channels opened on them own them.
        EchoRungStep.Windows = [.. channelWindowFds.Split(',').Select(f => SharedWindow.Open(new FileDescriptor(int.Parse(f, CultureInfo.InvariantCulture))))];
        using var file = new FileDescriptor(fd);
        using var memory = MappedMemory.Map(file, Length);
        using var lease = memory.Lease();
        var basePointer = (byte*)memory.DangerousGetHandle(); // the mapping's address, kept mapped by the lease
        long last = 0;
        while (true)
        {
            long run;
            var spins = 0;
            while ((run = Volatile.Read(ref *(long*)(basePointer + ControlRun))) == last)
            {
                if ((++spins & 0xFFF) == 0)
                {
                    Thread.Sleep(0);
                }
            }
            if (run < 0)
            {
                return 0;
            }
            var index = *(int*)(basePointer + ControlStep); // read once, validated
            var trips = *(int*)(basePointer + ControlTrips);
            if ((uint)index >= (uint)Steps.All.Length || trips <= 0)
            {
                Console.Error.WriteLine($"bad control line: step {index}, trips {trips}");
                return 1;
            }
            Steps.All[index].Server(basePointer + RingA, basePointer + RingB, trips);
            Volatile.Write(ref *(long*)(basePointer + DoneRun), run);
            last = run;
        }
    }
}
