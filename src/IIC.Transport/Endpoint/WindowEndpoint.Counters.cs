using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// The per-message statistics, one padded block per direction (issue 17, round 7): the sending thread writes its
/// counts (and the open claim's length) on every message, the receiving thread its own, and both read
/// <c>_disposed</c> and the peer-state pointer on every call. As neighbouring fields of this object those writes put a
/// send thread and a receive thread on one cache line per message (false sharing); each block now has a line pair
/// (<see cref="Smp.PaddedLineSize"/>) of its own, as the in-flight flags and the role gates do.
/// </summary>
internal sealed partial class WindowEndpoint
{
    // Written only by the thread inside the send role: the open claim's length. The send counts live in the doorbell
    // (Doorbell.CountUnarmedSend, issue 17 round 10): a fast-path send stores two counts there and no third for the
    // doorbell it skipped, which the doorbell derives.
    private DirectionCounters _sent;
    private DirectionCounters _received; // written only by the thread inside the receive role

    /// <summary>Messages sent.</summary>
    public long MessagesSent => _doorbell.MessagesCounted;

    /// <summary>Payload bytes sent.</summary>
    public long BytesSent => _doorbell.BytesCounted;

    /// <summary>Messages received.</summary>
    public long MessagesReceived => _received.Messages;

    /// <summary>Payload bytes received.</summary>
    public long BytesReceived => _received.Bytes;

    /// <summary>
    /// Byte distances between the hot words of this object (tests: the layout keeps the send block, the receive block
    /// and the fields both threads read on every call, <c>_disposed</c> first among them, at least a line pair apart).
    /// </summary>
    internal (long SentToReceived, long DisposedToSent, long DisposedToReceived) HotFieldDistances() => (
        Math.Abs((long)Unsafe.ByteOffset(ref _sent.Messages, ref _received.Messages)),
        Math.Abs((long)Unsafe.ByteOffset(ref Unsafe.As<int, long>(ref _disposed), ref _sent.Messages)),
        Math.Abs((long)Unsafe.ByteOffset(ref Unsafe.As<int, long>(ref _disposed), ref _received.Messages)));

    /// <summary>One direction's counts, alone on a line pair: hot words at <see cref="Smp.PaddedLineSize"/>, a line pair of padding either side.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 2 * Smp.PaddedLineSize)]
    private struct DirectionCounters
    {
        [FieldOffset(Smp.PaddedLineSize)]
        public long Messages;

        [FieldOffset(Smp.PaddedLineSize + 8)]
        public long Bytes;

        [FieldOffset(Smp.PaddedLineSize + 16)]
        public int OpenClaimLength; // send side: the open claim's length, counted at Commit

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(long bytes)
        {
            Messages++;
            Bytes += bytes;
        }
    }
}
