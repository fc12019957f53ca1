using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Grpc.Core;
using IIC.Grpc.Telemetry;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// The native path's traces and metrics (docs/grpc-call-protocol.md, section 5), across processes: a call made inside a
/// trace carries it to the server's handler (W3C trace context in the request headers, as HttpClient does for grpc-dotnet),
/// the client's and the server's spans are parent and child, and both sides measure their calls' durations in seconds with
/// OpenTelemetry's RPC attributes. Before round 18 the native path had none of it: the handler ran outside the caller's
/// trace (a break in every distributed trace), and no metric counted its calls.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class TelemetryTests(TesterFixture fixture)
{
    private const string UnaryMethod = "iic.testing.Tester/Unary";
    private static readonly TimeSpan s_watchdog = TimeSpan.FromSeconds(30);

    private ServerProcess StartServer(string service)
        => ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", fixture.HypervisorName, fixture.SocketDirectory, service, "telemetry");

    [Theory]
    [InlineData("native")]
    [InlineData("http2-tcp")]
    public async Task A_call_made_inside_a_trace_runs_its_handler_in_that_trace(string path)
    {
        using var server = StartServer("telemetry-trace-" + path);
        using var channel = fixture.Open(server, path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        using var parent = new Activity("test-parent").SetIdFormat(ActivityIdFormat.W3C).Start();

        var reply = await client.UnaryAsync(new Request { Mode = "trace?" }, deadline: DateTime.UtcNow + s_watchdog);

        var seen = reply.Text.Split('/');
        Assert.Equal(parent.TraceId.ToHexString(), seen[0]);
        if (path == "native")
        {
            // Nothing listens to IIC.Grpc in this process: no client span, so the handler's span is the caller's child.
            Assert.Equal(parent.SpanId.ToHexString(), seen[1]);
            Assert.Equal(GrpcTelemetry.ServerActivityName, seen[2]);
        }
    }

    [Fact]
    public async Task The_client_span_is_the_parent_of_the_server_span_and_is_never_left_current_in_the_caller()
    {
        using var server = StartServer("telemetry-spans");
        using var channel = fixture.Open(server, "native");
        var client = new Tester.TesterClient(channel.CallInvoker);
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = static source => source.Name == GrpcTelemetry.Name,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        using var parent = new Activity("test-parent").SetIdFormat(ActivityIdFormat.W3C).Start();

        var call = client.UnaryAsync(new Request { Mode = "trace?" }, deadline: DateTime.UtcNow + s_watchdog);
        Assert.Same(parent, Activity.Current);
        var reply = await call;
        var failed = client.UnaryAsync(new Request { Mode = "fail", Status = (int)StatusCode.NotFound, Text = "no such thing" }, deadline: DateTime.UtcNow + s_watchdog);
        await Assert.ThrowsAsync<RpcException>(() => failed.ResponseAsync);

        Activity Span(string what, Func<Activity, bool> match)
        {
            Activity? found = null;
            WaitFor.Condition(() => (found = stopped.FirstOrDefault(a => a.TraceId == parent.TraceId && match(a))) is not null, what, s_watchdog);
            return found!;
        }
        var ok = Span("the first call's client span", static a => a.GetTagItem("rpc.response.status_code") as string == "OK");
        Assert.Equal(ActivityKind.Client, ok.Kind);
        Assert.Equal(UnaryMethod, ok.DisplayName);
        Assert.Equal("grpc", ok.GetTagItem("rpc.system.name"));
        Assert.Equal(UnaryMethod, ok.GetTagItem("rpc.method"));
        Assert.Equal(parent.SpanId, ok.ParentSpanId);
        Assert.Equal(ActivityStatusCode.Unset, ok.Status);
        // The server's span, in the other process, is the client span's child.
        Assert.Equal($"{parent.TraceId.ToHexString()}/{ok.SpanId.ToHexString()}/{GrpcTelemetry.ServerActivityName}", reply.Text);

        var notFound = Span("the failed call's client span", static a => a.GetTagItem("rpc.response.status_code") as string == "NOT_FOUND");
        Assert.Equal(ActivityStatusCode.Error, notFound.Status);
        Assert.Equal("no such thing", notFound.StatusDescription);
        Assert.Equal("NOT_FOUND", notFound.GetTagItem("error.type"));
        Assert.Equal((int)StatusCode.NotFound, notFound.GetTagItem("grpc.status_code"));
        Assert.Same(parent, Activity.Current);
    }

    [Fact]
    public async Task Both_sides_measure_call_durations_in_seconds_with_the_method_and_status()
    {
        using var server = StartServer("telemetry-metrics");
        using var channel = fixture.Open(server, "native");
        var client = new Tester.TesterClient(channel.CallInvoker);
        var measured = new ConcurrentQueue<(double Seconds, string Key)>();
        using var meters = new MeterListener
        {
            InstrumentPublished = static (instrument, listener) =>
            {
                if (instrument.Meter.Name == GrpcTelemetry.Name && instrument.Name == GrpcTelemetry.ClientCallDuration)
                {
                    Assert.Equal("s", instrument.Unit);
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            string? method = null, status = null, error = null, system = null;
            foreach (var tag in tags)
            {
                switch (tag.Key)
                {
                    case "rpc.method": method = tag.Value as string; break;
                    case "rpc.response.status_code": status = tag.Value as string; break;
                    case "error.type": error = tag.Value as string; break;
                    case "rpc.system.name": system = tag.Value as string; break;
                }
            }
            measured.Enqueue((value, $"{system}|{method}|{status}|{error}"));
        });
        meters.Start();

        Assert.Equal("hi", (await client.UnaryAsync(new Request { Text = "hi" }, deadline: DateTime.UtcNow + s_watchdog)).Text);
        var failed = client.UnaryAsync(new Request { Mode = "fail", Status = (int)StatusCode.NotFound }, deadline: DateTime.UtcNow + s_watchdog);
        await Assert.ThrowsAsync<RpcException>(() => failed.ResponseAsync);

        WaitFor.Condition(() => measured.Count(m => m.Key.StartsWith("grpc|" + UnaryMethod, StringComparison.Ordinal)) >= 2, "both calls measured by the client", s_watchdog);
        var mine = measured.Where(m => m.Key.StartsWith("grpc|" + UnaryMethod, StringComparison.Ordinal)).ToList();
        Assert.Contains(mine, m => m.Key == $"grpc|{UnaryMethod}|OK|");
        Assert.Contains(mine, m => m.Key == $"grpc|{UnaryMethod}|NOT_FOUND|NOT_FOUND"); // a client span's error is any status but OK
        Assert.All(mine, m => Assert.InRange(m.Seconds, 1e-9, s_watchdog.TotalSeconds));

        // The server measured both before it sent their trailers; NOT_FOUND is the handler's answer, not a server error.
        // Only the asking call runs on the server now.
        var ok = await client.UnaryAsync(new Request { Mode = "server-durations?", Key = $"{UnaryMethod}|OK|" }, deadline: DateTime.UtcNow + s_watchdog);
        Assert.True(ok.Index >= 1, $"the server recorded {ok.Index} OK durations of {UnaryMethod}");
        var notFound = await client.UnaryAsync(new Request { Mode = "server-durations?", Key = $"{UnaryMethod}|NOT_FOUND|" }, deadline: DateTime.UtcNow + s_watchdog);
        Assert.Equal(1, notFound.Index);
        Assert.Equal("1", notFound.Text);
    }
}
