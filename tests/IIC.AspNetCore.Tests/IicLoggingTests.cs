using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace IIC.AspNetCore.Tests;

/// <summary>IIC.AspNetCore logs to the host's ILogger (category IIC.AspNetCore): the embedded hypervisor, the partition, the offered service.</summary>
public sealed class IicLoggingTests
{
    [Fact]
    public async Task The_transport_logs_to_the_hosts_logger_with_event_ids()
    {
        var hypervisor = TestNames.Hypervisor("log");
        var directory = TestNames.SocketDirectory();
        using var capture = new LogCapture();
        var entries = capture.Entries;
        try
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Logging.AddProvider(capture);
            builder.WebHost.UseIicTransport(o =>
            {
                o.HypervisorName = hypervisor;
                o.SocketDirectory = directory;
                o.PartitionName = "logged";
                o.StartHypervisor = true;
            });
            builder.WebHost.ConfigureKestrel(k => k.Listen(new IicEndPoint("logged-service"), l => l.Protocols = HttpProtocols.Http2));
            await using (var app = builder.Build())
            {
                await app.StartAsync();
                await app.StopAsync();
            }
            var iic = entries.Where(e => e.Category == "IIC.AspNetCore").ToList();
            Assert.Contains(iic, e => e.EventId == 1 && e.Level == LogLevel.Information && e.Message.Contains(hypervisor, StringComparison.Ordinal));
            Assert.Contains(iic, e => e.EventId == 2 && e.Message == $"Partition 'logged' attached to hypervisor '{hypervisor}'.");
            Assert.Contains(iic, e => e.EventId == 5 && e.Message == $"Offering iic://logged-service through hypervisor '{hypervisor}'.");
            Assert.Contains(iic, e => e.EventId == 6 && e.Message == "Stopped offering iic://logged-service.");
        }
        finally
        {
            TestNames.DeleteDirectory(directory);
        }
    }
}
