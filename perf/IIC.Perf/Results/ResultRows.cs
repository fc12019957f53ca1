using IIC.Perf.Core;
using IIC.Perf.Harness;

namespace IIC.Perf.Results;

/// <summary>Builds result rows from measurements, failures and unavailable transports.</summary>
internal static class ResultRows
{
    public static BenchResult Measured(MeasurementPlan plan, ClientMeasurement client, ServerReport server)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(server);
        var row = Base(plan) with
        {
            Count = client.Count,
            CpuS = Round(client.CpuS + server.CpuS),
            CpuClientS = Round(client.CpuS),
            CpuServerS = Round(server.CpuS),
            ElapsedS = Round(client.ElapsedS),
            IdleCpuPct = server.IdleCpuFraction is { } idle ? Math.Round(idle * 100, 2) : null,
            MsgsPerPoll = server.MsgsPerPoll,
        };
        if (client.Latency is { } latency)
        {
            return row.WithLatency(latency);
        }
        return row with
        {
            MsgsPerS = (long)client.MessagesPerSecond,
            BytesPerS = (long)(client.MessagesPerSecond * plan.Link.MessageSize),
        };
    }

    public static BenchResult Failed(MeasurementPlan plan, string reason)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return Base(plan) with { Status = BenchResult.Failed, Reason = reason };
    }

    public static BenchResult Unavailable(BenchTest test, IBenchTransport transport, int size, string reason)
    {
        ArgumentNullException.ThrowIfNull(transport);
        return new BenchResult
        {
            Test = test.ToName(),
            Transport = transport.Name,
            Mode = transport.Modes.Count == 1 ? transport.Modes[0] : "-",
            Isolation = Isolation.IsolationKind.Of(transport),
            Size = size,
            Status = BenchResult.Unavailable,
            Reason = reason,
        };
    }

    private static BenchResult Base(MeasurementPlan plan) => new()
    {
        Test = plan.Link.Test.ToName(),
        Transport = plan.Transport.Name,
        Mode = plan.Link.Mode,
        Isolation = Isolation.IsolationKind.Of(plan.Transport),
        Api = plan.ApiName,
        Size = plan.Link.MessageSize,
        Channels = plan.Link.Test == BenchTest.Channels ? plan.Link.Channels : null,
    };

    private static double Round(double seconds) => Math.Round(seconds, 4);
}
