using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// The receive of <see cref="IicChannel.SendAndReceive(ReadOnlySpan{byte}, Span{byte})"/>: it waits for the answer to the
/// message it just sent, and looks for it with a load fence between looks instead of a pause (issue 17 round 25;
/// docs/architecture.md, "A request's reply is looked for fenced").
/// </summary>
/// <remarks>
/// These are copies of <see cref="TryEnterWithRecord(bool, out ReadOnlySpan{byte}, out int)"/> and
/// <see cref="TryReceiveFast"/> with the fenced spin in place of the paused one, on purpose: round 24 put the choice inside
/// the copy-out receive's fast path in four shapes (a gate asked only when the ring was empty, the spin out of line, a
/// gate never taken but not foldable, a choice at the top of TryReceive), and each cost a stream's one-way receives
/// 5-17 %, the code's shape and not the fenced looks (perf/RESULTS.md "Round 24"). A method of its own leaves that path's
/// code as it was.
/// </remarks>
internal sealed partial class WindowEndpoint
{
    /// <summary>
    /// <see cref="TryReceiveFast"/> for a receive that awaits the answer to its own send, which spins, when this endpoint's
    /// infinite waits start with the clock-free spin, with <see cref="SpinForReplyFenced"/>'s looks. Never throws; declines
    /// as TryReceiveFast does (false, the role left, nothing consumed), and the caller takes the old path.
    /// </summary>
    /// <param name="destination">Where the message is copied.</param>
    /// <param name="length">The message length (0 when declined).</param>
    /// <param name="looks">When true, how long the peer took to answer in the paused spin's looks (<see cref="AsPausedLooks"/>; 0: it was there at once).</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryReceiveReplyFast(Span<byte> destination, out int length, out int looks)
    {
        if (TryEnterWithReply(_spinsBeforeClock, out var payload, out looks))
        {
            if (payload.Length <= destination.Length)
            {
                SmallCopy.Copy(payload, ref System.Runtime.InteropServices.MemoryMarshal.GetReference(destination));
                _reader.ConsumePeekedLazily(); // TryEnterWithReply peeked it
                length = payload.Length;
                Count(length);
                ExitReceiving();
                return true;
            }
            ExitReceiving();
        }
        length = 0;
        return false;
    }

    /// <summary><see cref="TryEnterWithRecord(bool, out ReadOnlySpan{byte}, out int)"/> with the fenced spin: enters the receive role and peeks a whole one-record message, there now or arriving within the spin.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryEnterWithReply(bool spin, out ReadOnlySpan<byte> payload, out int looks)
    {
        // L2 as EnterReceiving: flag, then load _disposed (partner L1); declining instead of throwing.
        Volatile.Write(ref _receiving.Value, 1);
        looks = 0;
        if (Volatile.Read(ref _disposed) == 0 && _peerEnded == 0 && !_assembling
            && (_reader.TryPeekFast(s_unfragmented, out payload)
                || (spin && (s_fencedReplySpin ? SpinForReplyFenced(out payload, out looks) : SpinForRecord(out payload, out looks)))))
        {
            return true;
        }
        ExitReceiving();
        payload = default;
        return false;
    }

    /// <summary>
    /// <see cref="SpinForRecord"/> with an <c>lfence</c> between looks instead of a <c>pause</c>. The fence lets no later
    /// load start before the look's load completes, so one look is in flight at a time, as with the pause, and the line
    /// the writer is filling is not hammered by speculative loads (round 13: 512 plain looks were slower than paused ones);
    /// but a look takes about 5 ns here, where a pause takes 24, so the answer is seen that much sooner after it lands
    /// (round 24: the near echo's p50 gap to the raw ring was the pause). Only for a reply: a stream's receives keep the
    /// pause (fenced, their one-way rate fell 7 % near and 10 % far, the looks taking the writer's line more often), and so
    /// do the polls (the poll-claim echo was 10-15 ns slower near, 80 ns far). The caller is inside the receive role.
    /// </summary>
    /// <param name="payload">The record's payload, when true.</param>
    /// <param name="looks">How long the peer took to answer, in <see cref="SpinForRecord"/>'s paused looks (<see cref="AsPausedLooks"/>), when true.</param>
    /// <returns>As <see cref="SpinForRecord"/>.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe bool SpinForReplyFenced(out ReadOnlySpan<byte> payload, out int looks)
    {
        _reader.PublishHeadIfStale();
        // As SpinForRecord: the head does not move while we spin (we are its only reader) and the mapping stays (we are
        // inside the receive role), so the length word's address is computed once and each look is one acquire load.
        var offset = _reader.HeadOffset;
        var word = _reader.HeadWord;
        for (var i = 0; i < SpinForReplyFencedLooks; i++)
        {
            var length = Volatile.Read(ref *word); // acquire; partner the writer's publish
            if (length > 0)
            {
                if (Volatile.Read(ref _disposed) == 0)
                {
                    looks = AsPausedLooks(i + 1);
                    return _reader.TryPeekSeen(s_unfragmented, (byte*)word, offset, length, out payload); // validates the value it read
                }
                break;
            }
            if ((i & FencedEndCheckInterval) == FencedEndCheckInterval && (PeerGone || Volatile.Read(ref _disposed) != 0))
            {
                break;
            }
            Sse2.LoadFence(); // only where Sse2.IsSupported (s_fencedReplySpin)
        }
        payload = default;
        looks = 0;
        return false;
    }

    /// <summary>
    /// Converts fenced looks into the paused looks IicChannel.NoteReceive's reply-line threshold counts (6 by default): 14
    /// fenced looks count as 6. Not the ratio of the looks' times (about 5): a look that misses (the writer took the line)
    /// lasts a line transfer, and on the far placement a wait holds two or three such misses; round 24's quiet A/B kept
    /// the far echo's early store up to 14 fenced looks and lost 30-90 ns of it above (perf/RESULTS.md "Round 24").
    /// </summary>
    /// <param name="fencedLooks">Looks of <see cref="SpinForReplyFenced"/>, at least 1.</param>
    internal static int AsPausedLooks(int fencedLooks) => fencedLooks * 3 / 7;

    /// <summary>Whether a reply's receive spins with <see cref="SpinForReplyFenced"/>: on x86 unless <c>IIC_REPLY_SPIN_FENCE=0</c> (read once, folded by the JIT; the A/B switch), else with the paused spin.</summary>
    private static readonly bool s_fencedReplySpin = Sse2.IsSupported
        && Environment.GetEnvironmentVariable("IIC_REPLY_SPIN_FENCE") != "0";

    /// <summary>Whether a reply's receive spins fenced in this process (tests).</summary>
    internal static bool FencedReplySpin => s_fencedReplySpin;

    /// <summary>Looks of <see cref="SpinForReplyFenced"/>: about 5 ns each when they hit, so 256 keep the clock-free spin near 1 µs, as the paused spin's 32.</summary>
    internal const int SpinForReplyFencedLooks = 256;

    /// <summary>How often <see cref="SpinForReplyFenced"/> looks at the peer's end and this side's disposal: every 64 looks (the paused spin's every 16, in time).</summary>
    private const int FencedEndCheckInterval = 63;
}
