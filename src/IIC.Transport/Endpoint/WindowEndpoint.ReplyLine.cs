using System.Runtime.CompilerServices;
using IIC.Hardware;

namespace IIC.Transport;

// The reply's line (issue 17, round 22; docs/architecture.md, "A receive that waited takes the reply's line"): the early
// store a receive makes, inside the send role, into the line the next send's record goes to.
internal sealed partial class WindowEndpoint
{
    /// <summary>
    /// The reply's early store made at the receive (IicChannel.NoteReceive, round 22), by the send role's owner inside the
    /// send gate: <see cref="RingWriter.TakeTailLineEarly"/> (free space by the cached head, never a line start), inside the
    /// send role's in-flight flag so the mapping stays while it stores (L2 as EnterSending, declining when disposed).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void TakeReplyLineEarly()
    {
        Volatile.Write(ref _sending.Value, 1); // L2: flag, then load _disposed; partner L1
        if (Volatile.Read(ref _disposed) == 0)
        {
            _writer.TakeTailLineEarly();
        }
        ExitSending();
    }

    /// <summary>The send ring's private tail (tests: where the early store of the next record's line goes).</summary>
    internal long SendPosition => _writer.Position;
}
