using IIC.Hardware;
using IIC.Tests;
using Microsoft.Extensions.Logging;

namespace IIC.Reliability.Tests;

/// <summary>The hypervisor's optional ILogger (HypervisorOptions.Logger) hears attaches, grants, quota hits, refusals and detaches.</summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class HypervisorLoggingTests
{
    [Fact]
    public void The_logger_hears_attaches_grants_quota_hits_refusals_and_detaches()
    {
        var logger = new ListLogger();
        using var scope = new HypervisorScope();
        using (var hypervisor = scope.Start(new HypervisorOptions { Logger = logger, MaxGrantsPerPartition = 1 }))
        {
            using var server = Partition.Attach(scope.Name, "server", scope.Directory);
            using var listener = server.Listen("logged");
            using (var client = Partition.Attach(scope.Name, "client", scope.Directory))
            {
                using var first = client.Connect("logged", DescriptorRing.MinCapacity, TimeSpan.Zero);
                Assert.Throws<HypervisorException>(() => client.Connect("logged", DescriptorRing.MinCapacity, TimeSpan.Zero));
                Assert.Throws<HypervisorException>(() => Partition.Attach(scope.Name, "server", scope.Directory));
            }
            WaitFor.Condition(() => logger.Has("Detached"), "the client's detach to be logged");
        }
        foreach (var name in new[] { "Started", "Attached", "Granted", "QuotaHit", "Refused", "Detached" })
        {
            Assert.True(logger.Has(name), $"no '{name}' entry; logged: {string.Join(", ", logger.Names())}");
        }
    }

    private sealed class ListLogger : ILogger
    {
        private readonly List<string> _events = [];

        public bool Has(string name)
        {
            lock (_events)
            {
                return _events.Contains(name);
            }
        }

        public string[] Names()
        {
            lock (_events)
            {
                return [.. _events];
            }
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_events)
            {
                _events.Add(eventId.Name ?? eventId.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }
    }
}
