namespace IIC.Perf.Core;

/// <summary>How the throughput receiver takes messages out of the transport.</summary>
internal enum ReceiveApi
{
    /// <summary>Copy out: <see cref="IMessageEndpoint.Receive"/> into the receiver's buffer.</summary>
    Receive,

    /// <summary>Zero copy: <see cref="IInPlaceReceiver.Poll{TConsumer}"/> hands each message over in place.</summary>
    Poll,
}

/// <summary>The names receive APIs have on the command line and in the JSON.</summary>
internal static class ReceiveApiNames
{
    public static string ToName(this ReceiveApi api) => api == ReceiveApi.Poll ? "poll" : "receive";

    public static bool TryParse(string name, out ReceiveApi api)
    {
        api = name.ToUpperInvariant() switch
        {
            "POLL" => ReceiveApi.Poll,
            "RECEIVE" or "COPY" => ReceiveApi.Receive,
            _ => (ReceiveApi)(-1),
        };
        return api is ReceiveApi.Poll or ReceiveApi.Receive;
    }
}
