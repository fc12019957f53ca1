namespace IIC.Perf.Core;

/// <summary>How the throughput receiver takes messages out of the transport.</summary>
internal enum ReceiveApi
{
    /// <summary>Copy out: <see cref="IMessageEndpoint.Receive"/> into the receiver's buffer.</summary>
    Receive,

    /// <summary>Zero copy: <see cref="IInPlaceReceiver.Poll{TConsumer}"/> hands each message over in place.</summary>
    Poll,

    /// <summary>
    /// Ping-pong only, zero copy both ways: each side polls the message in place and sends through a claim
    /// (<see cref="IClaimSender"/>): the echo server copies the message it polled straight into its claim.
    /// </summary>
    PollClaim,

    /// <summary>
    /// Ping-pong only, request/reply in one call: each side sends and receives the answer with
    /// <see cref="IMessageEndpoint.SendAndReceive"/> (IICFast's <c>IicChannel.SendAndReceive</c>, whose receive looks for the
    /// answer fenced; a transport without such a call sends, then receives, as its receive row).
    /// </summary>
    SendAndReceive,
}

/// <summary>The names receive APIs have on the command line and in the JSON.</summary>
internal static class ReceiveApiNames
{
    public static string ToName(this ReceiveApi api) => api switch
    {
        ReceiveApi.Poll => "poll",
        ReceiveApi.PollClaim => "poll-claim",
        ReceiveApi.SendAndReceive => "send-and-receive",
        _ => "receive",
    };

    public static bool TryParse(string name, out ReceiveApi api)
    {
        api = name.ToUpperInvariant() switch
        {
            "POLL" => ReceiveApi.Poll,
            "RECEIVE" or "COPY" => ReceiveApi.Receive,
            "POLL-CLAIM" or "CLAIM" => ReceiveApi.PollClaim,
            "SEND-AND-RECEIVE" or "REQUEST-REPLY" => ReceiveApi.SendAndReceive,
            _ => (ReceiveApi)(-1),
        };
        return api is ReceiveApi.Poll or ReceiveApi.Receive or ReceiveApi.PollClaim or ReceiveApi.SendAndReceive;
    }
}
