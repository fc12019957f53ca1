using Google.Protobuf;
using Grpc.Core;

namespace IIC.Grpc.Testing;

/// <summary>The Tester service: a stock Grpc.Tools service class, run unchanged by Grpc.AspNetCore and by IIC.Grpc.</summary>
public sealed class TesterService(CallScope scope) : Tester.TesterBase
{
    public override async Task<Reply> Unary(Request request, ServerCallContext context)
    {
        switch (request.Mode)
        {
            case "fail":
                throw new RpcException(new Status((StatusCode)request.Status, request.Text), new Metadata { { "why", "because" } });
            case "wait":
                await WaitForCancellationAsync(request.Key, context).ConfigureAwait(false);
                return new Reply();
            case "throwing-callback":
                // A callback on the call's token that throws when the client cancels; "written?" says it is registered. Not
                // unregistered when the wait ends: the wait's own callback may end the handler inline before this one runs.
                _ = context.CancellationToken.Register(static () => throw new InvalidOperationException("a token callback that throws"));
                Observations.Written[request.Key] = 1;
                await WaitForCancellationAsync(request.Key, context).ConfigureAwait(false);
                return new Reply();
            case "own-headers":
            {
                // A call's RequestHeaders are its own: writable, and holding only what its client sent (a set shared between
                // calls, or one left over from an earlier call, would show the earlier handler's entry or refuse the Add).
                var sent = context.RequestHeaders.Count;
                var leftOver = context.RequestHeaders.GetValue("added-by-handler") is not null;
                context.RequestHeaders.Add("added-by-handler", request.Text);
                return new Reply { Index = sent, Flag = leftOver, Text = context.RequestHeaders.GetValue("added-by-handler") ?? "" };
            }
            case "gate":
                return await LimitModes.PassAsync(request.Key, request.Text, context).ConfigureAwait(false);
            case "open-gate":
                return LimitModes.OpenGate(request.Key);
            case "peak?":
                return LimitModes.Peak(request.Key);
            case "written?":
                return new Reply { Index = Observations.Written.GetValueOrDefault(request.Key, -1) };
            case "waiting?":
                return new Reply { Index = Observations.Waiting.GetValueOrDefault(request.Key, -1) };
            case "count":
                // Counts the handlers that ran under the key ("written?" asks), then returns a small reply.
                Observations.Written.AddOrUpdate(request.Key, 1, static (_, count) => count + 1);
                return new Reply { Text = request.Text };
            case "trace?":
                return TelemetryModes.Trace();
            case "server-durations?":
                return TelemetryModes.Durations(request.Key);
            case "pid?":
                return new Reply { Index = Environment.ProcessId }; // which server process served the call (GracefulStopTests)
            case "threads?":
                return new Reply { Index = ThreadPool.ThreadCount };
            case "gone-probe":
                return ClientGoneModes.Probe(request.Key);
            case "block-pool":
                return ClientGoneModes.BlockPool();
            case "release-pool":
                return ClientGoneModes.ReleasePool();
            case "write-late":
                return await MisuseModes.WriteLateAsync(request.Key).ConfigureAwait(false);
            case "outcome?":
                return new Reply { Text = MisuseModes.Outcomes.GetValueOrDefault(request.Key, "") };
            case "cancelled?":
                return new Reply { Flag = Observations.Cancelled.ContainsKey(request.Key), Text = Observations.Cancelled.GetValueOrDefault(request.Key, "") };
            case "echo-metadata":
                return await FrameModes.EchoMetadataAsync(request, context).ConfigureAwait(false);
            case "big-trailers":
                return FrameModes.BigTrailers(request, context);
            case "big-headers":
                return await FrameModes.BigHeadersAsync(request, context).ConfigureAwait(false);
            default:
                if (context.RequestHeaders.GetValue("x-test") is { } header)
                {
                    await context.WriteResponseHeadersAsync(new Metadata { { "echo-header", header } }).ConfigureAwait(false);
                }
                context.ResponseTrailers.Add("trailer-key", "trailer-value");
                context.ResponseTrailers.Add("trailer-bin", new byte[] { 1, 2, 3 });
                return new Reply { Text = request.Text, Payload = request.Payload, Scope = scope.Id };
        }
    }

    public override async Task ServerStream(Request request, IServerStreamWriter<Reply> responseStream, ServerCallContext context)
    {
        switch (request.Mode)
        {
            case "concurrent-writes":
                await MisuseModes.ConcurrentWritesAsync(request.Key, request.Count, responseStream).ConfigureAwait(false);
                return;
            case "write-after-return":
                MisuseModes.Keep(request.Key, responseStream);
                return;
            case "write-token":
                await MisuseModes.WriteWithCancelledTokenAsync(request.Key, responseStream).ConfigureAwait(false);
                return;
            case "write-racing-return":
                await SmallPoolAndRaceModes.WriteRacingReturnAsync(request.Key, responseStream).ConfigureAwait(false);
                return;
            case "gone-target":
                await ClientGoneModes.TargetAsync(request.Key, responseStream, context).ConfigureAwait(false);
                return;
        }
        try
        {
            // No look at the token: an endless stream (count int.MaxValue) ends only when a write fails.
            if (request.Mode == "progress" && request.Text == "headers-first")
            {
                Observations.Written[request.Key] = -2; // "written?" -2: the response headers are being sent
                var headers = context.WriteResponseHeadersAsync(new Metadata { { "first", "headers" } });
                if (!headers.IsCompleted)
                {
                    Observations.Waiting[request.Key] = -2; // "waiting?" -2: the headers' write waits (its token on the wait)
                }
                await headers.ConfigureAwait(false);
            }
            for (var i = 0; i < request.Count; i++)
            {
                if (request.Mode == "progress")
                {
                    Observations.Written[request.Key] = i; // "written?" then says which write is about to start (or waits)
                }
                var write = responseStream.WriteAsync(new Reply { Index = i, Payload = request.Payload });
                if (request.Mode == "progress" && !write.IsCompleted)
                {
                    Observations.Waiting[request.Key] = i; // "waiting?": write i waits (queued or for room, the call's token on it)
                }
                await write.ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            Observations.Cancelled[request.Key] = "cancelled"; // a write in progress when the call was cancelled
            throw;
        }
        catch (InvalidOperationException e) when (e.Message == "Can't write the message because the request is complete.")
        {
            // A write started after the call was cancelled (or ended), refused as Grpc.AspNetCore refuses it.
            Observations.Cancelled[request.Key] = "refused";
            throw;
        }
        if (request.Key.Length != 0)
        {
            Observations.Written[request.Key] = request.Count;
        }
        switch (request.Mode)
        {
            case "forever":
                await WaitForCancellationAsync(request.Key, context).ConfigureAwait(false);
                break;
            case "server-cancel":
                throw new RpcException(new Status(StatusCode.Cancelled, "the server cancelled"));
        }
    }

    public override async Task<Reply> ClientStream(IAsyncStreamReader<Request> requestStream, ServerCallContext context)
    {
        var sum = 0;
        var texts = new List<string>();
        var key = "";
        try
        {
            await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
            {
                key = request.Key;
                sum += request.Count;
                texts.Add(request.Text);
            }
        }
        catch (OperationCanceledException) when (key.Length != 0)
        {
            Observations.Cancelled[key] = "cancelled"; // the wait for the next request ended with the call's token
            throw;
        }
        return new Reply { Index = sum, Text = string.Join(",", texts) };
    }

    public override async Task Bidi(IAsyncStreamReader<Request> requestStream, IServerStreamWriter<Reply> responseStream, ServerCallContext context)
    {
        var index = 0;
        if (context.RequestHeaders.GetValue("big-0") is not null)
        {
            // Header blocks longer than a record (FrameModes, ContinuationTests): the "big-*" request headers come back first.
            await context.WriteResponseHeadersAsync(FrameModes.Echo(context.RequestHeaders)).ConfigureAwait(false);
        }
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
        {
            if (request.Mode == "wait")
            {
                await WaitForCancellationAsync(request.Key, context).ConfigureAwait(false);
            }
            await responseStream.WriteAsync(new Reply { Text = request.Text, Index = index++, Payload = request.Payload }).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until the call is cancelled and notes how (deadline or client) under the key.</summary>
    private static async Task WaitForCancellationAsync(string key, ServerCallContext context)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, context.CancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Observations.Cancelled[key] = DateTime.UtcNow >= context.Deadline ? "deadline" : "cancelled";
            throw;
        }
    }
}

/// <summary>Helpers for building payloads.</summary>
public static class Payloads
{
    public static ByteString Of(int length) => UnsafeByteOperations.UnsafeWrap(Enumerable.Range(0, length).Select(i => (byte)(i * 31)).ToArray());
}
