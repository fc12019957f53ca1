using Grpc.Core;

namespace IIC.Grpc.Testing;

/// <summary>
/// Modes for header blocks longer than one ring record (tests/IIC.Grpc.Tests/ContinuationTests.cs, round 18): handlers that
/// echo the request's "big-*" headers into their response headers and trailers, or set trailers of a given size; and the
/// server's "max-metadata=N" argument (IicGrpcServerOptions.MaxMetadataSize).
/// </summary>
public static class FrameModes
{
    /// <summary>The "max-metadata=N" argument of the test server, if given.</summary>
    public static int? MaxMetadataArgument(string[] args)
    {
        foreach (var arg in args)
        {
            if (arg.StartsWith("max-metadata=", StringComparison.Ordinal))
            {
                return int.Parse(arg["max-metadata=".Length..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        return null;
    }

    /// <summary>The request's headers whose key starts with "big-", in order (text and binary as sent).</summary>
    public static Metadata Echo(Metadata requestHeaders)
    {
        var echo = new Metadata();
        foreach (var entry in requestHeaders)
        {
            if (entry.Key.StartsWith("big-", StringComparison.Ordinal))
            {
                if (entry.IsBinary)
                {
                    echo.Add(entry.Key, entry.ValueBytes);
                }
                else
                {
                    echo.Add(entry.Key, entry.Value);
                }
            }
        }
        return echo;
    }

    /// <summary>"echo-metadata": the "big-*" request headers back as response headers and as trailers; Index = how many.</summary>
    public static async Task<Reply> EchoMetadataAsync(Request request, ServerCallContext context)
    {
        var echo = Echo(context.RequestHeaders);
        if (request.Key.Length != 0)
        {
            // "cancelled?" says "token" once the call's token fired (the client's Cancel), whatever the headers' write does.
            context.CancellationToken.Register(static key => Observations.Cancelled[(string)key!] = "token", request.Key);
        }
        await context.WriteResponseHeadersAsync(echo).ConfigureAwait(false);
        foreach (var entry in echo)
        {
            context.ResponseTrailers.Add(entry);
        }
        return new Reply { Index = echo.Count, Text = request.Text };
    }

    /// <summary>"big-trailers": trailers with one binary entry of Count bytes ("big-bin"), a small reply.</summary>
    public static Reply BigTrailers(Request request, ServerCallContext context)
    {
        context.ResponseTrailers.Add("big-bin", Pattern(request.Count));
        Observations.Written[request.Key] = 1; // "written?": the handler ran
        return new Reply { Text = request.Text };
    }

    /// <summary>
    /// "big-headers": response headers with one binary entry of Count bytes ("big-bin"), then it waits for the call's
    /// token; "cancelled?" with Key says "token" once it fired (the client's Cancel).
    /// </summary>
    public static async Task<Reply> BigHeadersAsync(Request request, ServerCallContext context)
    {
        context.CancellationToken.Register(static key => Observations.Cancelled[(string)key!] = "token", request.Key);
        await context.WriteResponseHeadersAsync(new Metadata { { "big-bin", Pattern(request.Count) } }).ConfigureAwait(false);
        await Task.Delay(Timeout.Infinite, context.CancellationToken).ConfigureAwait(false);
        return new Reply();
    }

    private static byte[] Pattern(int length)
    {
        var value = new byte[length];
        for (var i = 0; i < value.Length; i++)
        {
            value[i] = (byte)(i * 7);
        }
        return value;
    }
}
