namespace IIC.Perf.Core;

/// <summary>
/// Optional on an <see cref="IMessageEndpoint"/>: zero copy both ways (poll in place, send through a claim), for
/// the poll-claim ping-pong. The endpoint hands the harness's loop a struct link of its own type, so inside the
/// loop every call is direct and inlines: calling generic interface methods per message would cost a generic
/// virtual dispatch each (tens of ns, as much as the round trip's headroom).
/// </summary>
internal interface IZeroCopyEndpoint
{
    /// <summary>Runs <paramref name="visitor"/> with this endpoint's zero-copy link.</summary>
    TResult Run<TResult>(IZeroCopyVisitor<TResult> visitor);
}

/// <summary>A zero-copy link: poll in place and send through a claim.</summary>
internal interface IZeroCopyLink : IInPlaceReceiver, IClaimSender
{
}

/// <summary>A loop compiled for one transport's link type.</summary>
internal interface IZeroCopyVisitor<TResult>
{
    TResult Visit<TLink>(TLink link)
        where TLink : struct, IZeroCopyLink;
}
