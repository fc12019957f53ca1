namespace IIC.Perf.Isolation;

/// <summary>Which rows a run measures and what a row says about where its processes ran (<c>--isolation</c>, the JSON's <c>isolation</c>).</summary>
internal static class IsolationKind
{
    /// <summary>The processes share this process's namespaces (tcp-veth's two network namespaces aside).</summary>
    public const string None = "none";

    /// <summary>Every process of the measurement in its own user, pid, network, mount and IPC namespaces.</summary>
    public const string Namespaces = "namespaces";

    /// <summary>The <c>--isolation</c> value that runs both (the default).</summary>
    public const string All = "all";

    /// <summary>What a transport's rows carry.</summary>
    public static string Of(Core.IBenchTransport transport) => transport is IIsolatedTransport isolated ? isolated.Isolation : None;

    /// <summary>Whether <c>--isolation <paramref name="selection"/></c> runs <paramref name="transport"/>.</summary>
    public static bool Includes(string selection, Core.IBenchTransport transport) => selection == All || selection == Of(transport);

    /// <summary>Parses an <c>--isolation</c> value.</summary>
    /// <exception cref="ArgumentException">Not none, namespaces or all.</exception>
    public static string Parse(string text) => text.ToLowerInvariant() switch
    {
        None => None,
        Namespaces => Namespaces,
        All => All,
        _ => throw new ArgumentException($"Unknown isolation '{text}'. Use none, namespaces or all."),
    };
}

/// <summary>A transport whose processes run isolated; its rows carry <see cref="Isolation"/>. Isolated rows measure ping-pong and throughput only.</summary>
internal interface IIsolatedTransport : Core.IBenchTransport
{
    /// <summary>The JSON's <c>isolation</c> value (<see cref="IsolationKind.Namespaces"/>).</summary>
    string Isolation { get; }
}
