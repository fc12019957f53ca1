namespace IIC.Transport;

// IicChannel, the reply's line (issue 17, rounds 21-22; docs/architecture.md, "A receive that waited takes the reply's
// line"): a copy-out receive on the thread that owns the send role prepares the send that answers it.
public sealed partial class IicChannel
{
    /// <summary>
    /// A copy-out receive took a message: when this thread also owns the send role, the send it makes next is probably the
    /// reply, and the peer, waiting for it, polls the line it goes into. When the message came only after a wait of
    /// <see cref="ReplyLineMinLooks"/> looks of the receive's spin or more, that line is taken now (round 22): the send role
    /// entered by its owner's lean entry, the early pre-own store (<see cref="WindowEndpoint.TakeReplyLineEarly"/>), the role
    /// left; the fetch for ownership then runs while the caller looks at the message. Only after such a wait: when the
    /// peer answers fast (the near placement's echo, 3-5 looks), the line taken now is polled back by the peer before the
    /// reply is written, and the receive's extra store cost +5 ns per round trip; when it answers slowly (the far
    /// placement's echo, 6 looks and more, the line fetched across the machine), it saved about 100 ns (perf/RESULTS.md
    /// "Round 22"). The send's own early store (the hint, RoleGate.ReplyHint) stays either way. A receive on any other
    /// thread, or with the send role held (an open claim), writes nothing on the send side; a thread that never sends
    /// pays a subtract and a compare on the receive gate's own line.
    /// </summary>
    /// <param name="looks">The looks the receive's spin took to see the message (0: it was there at once).</param>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private void NoteReceive(int looks)
    {
        if (_receiveGate.CallerOwnsOtherRole())
        {
            if (looks >= _replyLineMinLooks && _sendGate.TryEnterOwnerFast())
            {
                _endpoint.TakeReplyLineEarly();
                _sendGate.Exit();
            }
            _sendGate.SetReplyHint();
        }
    }

    /// <summary>
    /// The fewest looks of the receive's spin after which a receive on the send owner's thread takes the reply's line
    /// (<see cref="NoteReceive"/>): 6, between the near placement's echo (3-5 looks) and the far one's (perf/RESULTS.md
    /// "Round 22", the K sets). The A/B switch: <c>IIC_REPLY_LINE_AT_RECEIVE=0</c> in the environment starts it at
    /// int.MaxValue (never: the line is taken at the send only, as in round 21), <c>=1</c> at 0 (after every receive). Read
    /// when a channel is made (tests set it).
    /// </summary>
    internal static int ReplyLineMinLooks { get; set; } = Environment.GetEnvironmentVariable("IIC_REPLY_LINE_AT_RECEIVE") switch
    {
        "0" => int.MaxValue,
        "1" => 0,
        _ => DefaultReplyLineMinLooks,
    };

    /// <summary>The default of <see cref="ReplyLineMinLooks"/>.</summary>
    internal const int DefaultReplyLineMinLooks = 6;

    private readonly int _replyLineMinLooks = ReplyLineMinLooks;
}
