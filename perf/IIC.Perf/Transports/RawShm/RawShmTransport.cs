using System.Globalization;
using IIC.Native;
using IIC.Perf.Core;

namespace IIC.Perf.Transports.RawShm;

/// <summary>
/// The shared-memory baselines, as simple and lean as C# allows: a sealed memfd with two rings of slots (see
/// <see cref="SlotRingLayout"/>). <c>raw-shm</c> spins on the slot header (the ceiling .NET can reach);
/// <c>raw-futex</c> always sleeps in FUTEX_WAIT and its writer always calls FUTEX_WAKE (the ceiling when parking).
/// A fresh child inherits the memfd: it is made non-close-on-exec just long enough to start the child; a reused
/// child opens it as <c>/proc/PARENT/fd/N</c> (<see cref="ChildLaunch.ReopenedFrom"/>).
/// </summary>
internal sealed class RawShmTransport(bool park) : IBenchTransport
{
    public string Name => park ? "raw-futex" : "raw-shm";

    public string Description => park
        ? "raw shared-memory rings, receiver always in FUTEX_WAIT, sender always FUTEX_WAKE (the parking ceiling)"
        : "raw shared-memory rings, receiver spins on the slot header (the .NET spinning ceiling)";

    public IReadOnlyList<string> Modes { get; } = [park ? WaitModes.Park : WaitModes.Spin];

    // raw-futex has no claim mode: its poll-claim would measure the same futex calls as its receive row. raw-shm's
    // send-and-receive row is its receive row's work (send, then receive), the floor iic's is paired with.
    public IReadOnlyList<ReceiveApi> ReceiveApis { get; } = park ? [ReceiveApi.Poll, ReceiveApi.Receive] : [ReceiveApi.Poll, ReceiveApi.Receive, ReceiveApi.PollClaim, ReceiveApi.SendAndReceive];

    public string? Unavailable() => LinuxPlatform.IsSupported ? null : "needs Linux on x64 or arm64 (memfd, futex)";

    public ITransportSession Open(LinkOptions options, RunGuard guard)
    {
        var layout = SlotRingLayout.For(options);
        var file = MemoryFile.Create("iicperf-" + Name);
        try
        {
            MemoryFile.SetSize(file, layout.MappingLength);
            MemoryFile.AddSeals(file, FileSeals.Shrink | FileSeals.Grow | FileSeals.Seal);
            var memory = MappedMemory.Map(file, layout.MappingLength);
            file.CloseOnExec = false;
            return new Session(file, memory, layout, park);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public IMessageEndpoint Join(LinkRole role, LinkOptions options, IReadOnlyList<string> arguments, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var layout = SlotRingLayout.For(options);
        // A fresh child inherited the memfd as a number; a reused one opens the parent's through /proc (ChildLaunch.ReopenedFrom).
        using var opened = arguments[0].StartsWith(ChildLaunch.ProcPrefix, StringComparison.Ordinal)
            ? ChildLaunch.OpenDescriptor(arguments[0], FileAccess.ReadWrite)
            : null;
        var fd = opened is null ? int.Parse(arguments[0], CultureInfo.InvariantCulture) : (int)opened.DangerousGetHandle();
        using var file = new FileDescriptor(fd, ownsHandle: opened is null);
        var size = file.GetStatus().Size;
        if (size != layout.MappingLength)
        {
            throw new InvalidOperationException($"The inherited memfd (fd {fd}) is {size} bytes; expected {layout.MappingLength}. Parent and child disagree on the layout.");
        }
        var memory = MappedMemory.Map(file, layout.MappingLength);
        return new RawShmEndpoint(memory, ownsMemory: true, layout, role, park, guard);
    }

    private sealed class Session(FileDescriptor file, MappedMemory memory, SlotRingLayout layout, bool park) : ITransportSession
    {
        public ChildLaunch Server { get; } = ChildLaunch.Inheriting(file.Value.ToString(CultureInfo.InvariantCulture));

        public ChildLaunch? RemoteClient => null;

        // The child has its own copy of the descriptor now; ours would only leak into later children.
        public void ChildrenStarted() => file.Dispose();

        public IMessageEndpoint ConnectClient(RunGuard guard) => new RawShmEndpoint(memory, ownsMemory: false, layout, LinkRole.Client, park, guard);

        public void Dispose()
        {
            file.Dispose();
            memory.Dispose();
        }
    }
}
