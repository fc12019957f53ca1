using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// Issue 17 round 14: an A/B variant of the fast paths' clock-free spin with a shorter gap between looks than a
/// <c>pause</c> (about 25 ns on this Zen 4 VM). Why a gap at all: a look that misses while the writer is storing into the
/// record's line takes the line from it before its publish, and the writer must fetch it back (round 13's quiet A/B:
/// without a gap the 32 B poll-claim echo's p50 was 20 ns higher). Why shorter: the record is seen only at the first look
/// after it lands, so a gap of g costs g/2 per hop on average (two hops per round trip), which the placement probe,
/// looking without a gap at a line written by one store, does not pay.
/// </summary>
internal sealed partial class WindowEndpoint
{
    /// <summary>
    /// The gap between <see cref="SpinForRecordSpaced"/>'s looks, in dependent multiplies (~3 cycles each) followed by an
    /// <c>lfence</c> (dispatch-serializing on x86 as Linux configures it: the next look cannot start before the gap ends,
    /// out of order). 0 (the default): <see cref="SpinForRecord"/> with its pause. <c>IIC_SPIN_SPACING=N</c> sets it for
    /// endpoints made afterwards; perf/IIC.LineLab sets this property between its steps.
    /// </summary>
    internal static int LookSpacingDefault { get; set; } = ParseLookSpacing(Environment.GetEnvironmentVariable("IIC_SPIN_SPACING"));

    // Fixed when the endpoint is made (a field initializer of this partial class: it runs in every constructor).
    private readonly int _lookSpacing = Sse2.IsSupported ? LookSpacingDefault : 0;

    private static int ParseLookSpacing(string? text) => int.TryParse(text, out var n) && n is > 0 and <= 256 ? n : 0;

    /// <summary>The clock-free spin this endpoint makes: the spaced variant when <see cref="LookSpacingDefault"/> was set, else the paused one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool SpinForRecordChosen(out ReadOnlySpan<byte> payload)
        => _lookSpacing > 0 ? SpinForRecordSpaced(out payload) : SpinForRecord(out payload);

    /// <summary>
    /// <see cref="SpinForRecord"/> with a gap of <see cref="_lookSpacing"/> dependent multiplies and an <c>lfence</c> between
    /// looks instead of a <c>pause</c>; as many looks as keep the spin near <see cref="SpinBeforeClockChecks"/> plain looks'
    /// time (well under 1 µs). Everything else as there: the space consumed by earlier calls returned first, one acquire
    /// load of the head's length word per look (the head does not move and the mapping stays: we are inside the receive
    /// role), the peer's end and our disposal every <see cref="EndCheckInterval"/> + 1 looks, then TryPeekFast.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private unsafe bool SpinForRecordSpaced(out ReadOnlySpan<byte> payload)
    {
        _reader.PublishHeadIfStale();
        var word = _reader.HeadWord;
        var spacing = _lookSpacing;
        var looks = SpinBeforeClockChecks * 4 / (spacing + 4);
        var chain = (ulong)spacing;
        for (var i = 0; i < looks; i++)
        {
            if (Volatile.Read(ref *word) > 0) // acquire; partner the writer's publish (TryPeekFast reads it again and validates)
            {
                if (Volatile.Read(ref _disposed) == 0)
                {
                    return _reader.TryPeekFast(s_unfragmented, out payload);
                }
                break;
            }
            if ((i & EndCheckInterval) == EndCheckInterval && (PeerGone || Volatile.Read(ref _disposed) != 0))
            {
                break;
            }
            for (var k = 0; k < spacing; k++)
            {
                chain = (chain * 0x9E3779B97F4A7C15UL) + 1; // each multiply waits for the last
            }
            Sse2.LoadFence(); // the chain completes before the next look is dispatched
        }
        s_spacingSink = chain; // the chain's result is used: it is not removed
        payload = default;
        return false;
    }

    private static ulong s_spacingSink;
}
