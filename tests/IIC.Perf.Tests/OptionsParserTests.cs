using IIC.Perf.Cli;
using IIC.Perf.Core;

namespace IIC.Perf.Tests;

/// <summary>The command line (Cli/OptionsParser.cs): what it accepts, and errors that name the problem and the accepted values.</summary>
public sealed class OptionsParserTests
{
    [Theory]
    [InlineData(new[] { "pingpnog" }, "'pingpnog'", "pingpong")]
    [InlineData(new[] { "--bogus" }, "'--bogus'", "Unknown option")]
    [InlineData(new[] { "--sizes", "4" }, "'4'", "between 8 B and 64 MiB")]
    [InlineData(new[] { "--sizes", "128M" }, "'128M'", "between 8 B and 64 MiB")]
    [InlineData(new[] { "--sizes", "32,lots" }, "'lots'", "between 8 B and 64 MiB")]
    [InlineData(new[] { "--modes", "spin,fast" }, "'fast'", "spin, spinpark, park or adaptive")]
    [InlineData(new[] { "--api", "zero" }, "'zero'", "poll")]
    [InlineData(new[] { "--count", "0" }, "--count", "positive whole number")]
    [InlineData(new[] { "--count", "-5" }, "'-5'", "positive whole number")]
    [InlineData(new[] { "--channels", "1,x" }, "--channels", "'x'")]
    [InlineData(new[] { "--duration", "0" }, "--duration", "more than 0")]
    [InlineData(new[] { "--duration", "4000" }, "'4000'", "3600")]
    [InlineData(new[] { "--warmup", "-1" }, "--warmup", "0 to 3600")]
    [InlineData(new[] { "--isolation", "vm" }, "'vm'", "none, namespaces or all")]
    [InlineData(new[] { "pingpong", "--json" }, "--json", "needs a value")]
    [InlineData(new[] { "--duration=" }, "--duration", "got ''")]
    public void Parse_RejectsWithAMessageThatNamesTheProblem(string[] args, string names, string says)
    {
        var error = Assert.Throws<ArgumentException>(() => OptionsParser.Parse(args));

        Assert.Contains(names, error.Message, StringComparison.Ordinal);
        Assert.Contains(says, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ReadsTheJobsOptions()
    {
        var options = OptionsParser.Parse(["pingpong", "--transports", "iic, raw-shm", "--sizes", "32,4K,1MiB", "--modes", "SPIN", "--api", "poll-claim,receive", "--duration=0.2s", "--warmup", "0", "--isolation", "none", "--json", "out.json"]);

        Assert.Equal(new[] { BenchTest.PingPong }, options.Tests);
        Assert.False(options.Memcpy);
        Assert.Equal(new[] { "iic", "raw-shm" }, options.Transports!);
        Assert.Equal(new[] { 32, 4096, 1 << 20 }, options.Sizes);
        Assert.True(options.SizesGiven);
        Assert.Equal(new[] { "spin" }, options.Modes);
        Assert.Equal(new[] { ReceiveApi.PollClaim, ReceiveApi.Receive }, options.Apis);
        Assert.Equal(new[] { ReceiveApi.SendAndReceive }, OptionsParser.Parse(["pingpong", "--api", "send-and-receive"]).Apis);
        Assert.Equal(0.2, options.DurationS);
        Assert.Equal(0, options.WarmupS);
        Assert.True(options.WarmupGiven);
        Assert.Equal("none", options.Isolation);
        Assert.Equal("out.json", options.JsonPath);
    }

    [Fact]
    public void Parse_NoArguments_IsTheWholeJob()
    {
        var options = OptionsParser.Parse([]);

        Assert.Equal(BenchOptions.AllTests, options.Tests);
        Assert.Null(options.Transports);
        Assert.False(options.Quick);
        Assert.Equal(BenchOptions.DefaultDurationS, options.DurationFor(BenchTest.PingPong));
    }

    [Fact]
    public void Parse_OptionsAfterQuick_OverrideIt()
    {
        var options = OptionsParser.Parse(["--quick", "--duration", "0.3", "--modes", "park"]);

        Assert.True(options.Quick);
        Assert.Equal(0.3, options.DurationS);
        Assert.Equal(new[] { "park" }, options.Modes);
    }

    [Fact]
    public void Parse_Duration_LengthensTheScaleRowsAndTheDefaultKeepsItsShare()
    {
        Assert.Equal(2, OptionsParser.Parse(["connect", "--duration", "2"]).ScaleRowDurationS);
        Assert.Equal(0.3, OptionsParser.Parse(["connect"]).ScaleRowDurationS); // the default run's length unchanged
        Assert.Equal(0.3, OptionsParser.Parse(["connect", "--count", "1000"]).ScaleRowDurationS); // a count is of round trips, not cycles
        Assert.Equal(0.15, OptionsParser.Parse(["--quick"]).ScaleRowDurationS);
    }

    [Fact]
    public void Run_ABadArgument_ExitsWithTwo()
    {
        // BenchCommand prints the error and the usage to standard error, and measures nothing.
        var error = Console.Error;
        using var captured = new StringWriter();
        Console.SetError(captured);
        try
        {
            Assert.Equal(2, BenchCommand.Run(["--sizes", "3"]));
        }
        finally
        {
            Console.SetError(error);
        }
        Assert.Contains("Message size '3'", captured.ToString(), StringComparison.Ordinal);
        Assert.Contains("usage: IIC.Perf", captured.ToString(), StringComparison.Ordinal);
    }
}
