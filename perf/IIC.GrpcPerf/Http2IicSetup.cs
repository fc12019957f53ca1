using System.Globalization;
using IIC.AspNetCore;

namespace IIC.GrpcPerf;

/// <summary>
/// The http2-iic path's pipe options on both sides (client handler and server Kestrel), from the command line:
/// <c>--reply-spin US</c> (IicPipeOptions.ReplySpinLimit in µs; 0 = off; default: the library default) and
/// <c>--client-inline</c> (the client's SocketsHttpHandler continues on the receive thread, as <c>--inline</c> does for
/// Kestrel) and <c>--inline-http2 [client|server|both]</c> (IicPipeOptions.InlineHttp2Reads on for that side, both when no side is named; off by default). Handed to the server process through the environment.
/// </summary>
internal static class Http2IicSetup
{
    private const string ReplySpinVariable = "IIC_GRPCPERF_REPLY_SPIN_US";
    private const string ClientInlineVariable = "IIC_GRPCPERF_CLIENT_INLINE";
    private const string InlineHttp2Variable = "IIC_GRPCPERF_INLINE_HTTP2";
    private static int s_workItemsReported;

    /// <summary>Reads the flags (before the server process starts, which inherits them).</summary>
    public static void FromArguments(string[] args)
    {
        var i = Array.IndexOf(args, "--reply-spin");
        if (i >= 0 && i + 1 < args.Length)
        {
            Environment.SetEnvironmentVariable(ReplySpinVariable, args[i + 1]);
        }
        if (args.Contains("--client-inline"))
        {
            Environment.SetEnvironmentVariable(ClientInlineVariable, "1");
        }
        var inline = Array.IndexOf(args, "--inline-http2");
        if (inline >= 0)
        {
            // --inline-http2 alone: both sides; followed by client or server: that side only (per-side A/B).
            var side = inline + 1 < args.Length && args[inline + 1] is "client" or "server" or "both" ? args[inline + 1] : "both";
            Environment.SetEnvironmentVariable(InlineHttp2Variable, side);
        }
    }

    /// <summary>What the flags say, for the report line.</summary>
    public static string Describe() => $"reply spin: {(ReplySpin() is { } spin ? spin.TotalMicroseconds.ToString("0", CultureInfo.InvariantCulture) + " µs" : "default")}; client scheduling: {(ClientInline ? "inline" : "thread pool")}; HTTP/2 reads inline: {(InlineHttp2Side is { } side ? "on (" + side + (side == "both" ? " sides)" : " side only)") : "default (off)")}";

    /// <summary>Applies the flags to <paramref name="options"/> (client: with <paramref name="client"/>).</summary>
    public static void Apply(IicTransportOptions options, bool client)
    {
        if (!client && Interlocked.Exchange(ref s_workItemsReported, 1) == 0)
        {
            // The server's thread-pool work items over its whole run (the client counts its own per measured call): with
            // one path measured, divided by the calls made, the server's hops per call.
            AppDomain.CurrentDomain.ProcessExit += (_, _) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"server: thread-pool work items over the whole run: {ThreadPool.CompletedWorkItemCount}"));
        }
        if (ReplySpin() is { } spin)
        {
            options.PipeOptions = options.PipeOptions with { ReplySpinLimit = spin };
        }
        if (InlineHttp2Side is "both" || InlineHttp2Side == (client ? "client" : "server"))
        {
            options.PipeOptions = options.PipeOptions with { InlineHttp2Reads = true };
        }
        if (client && ClientInline)
        {
            options.PreferInlineScheduling = true;
        }
    }

    /// <summary>Which side reads HTTP/2 inline: "client", "server", "both" ("1" from older scripts), or null (the default).</summary>
    private static string? InlineHttp2Side => Environment.GetEnvironmentVariable(InlineHttp2Variable) switch
    {
        null or "" => null,
        "1" => "both",
        var side => side,
    };

    private static bool ClientInline => Environment.GetEnvironmentVariable(ClientInlineVariable) == "1";

    private static TimeSpan? ReplySpin()
        => Environment.GetEnvironmentVariable(ReplySpinVariable) is { Length: > 0 } text
            ? TimeSpan.FromMicroseconds(double.Parse(text, CultureInfo.InvariantCulture))
            : null;
}
