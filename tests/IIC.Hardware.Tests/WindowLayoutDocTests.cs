using System.Globalization;
using System.Text.RegularExpressions;

namespace IIC.Hardware.Tests;

/// <summary>
/// docs/window-layout.md and the code declare the same bytes: every field the doc's tables name is at the offset
/// and size <see cref="WindowLayout"/>, <see cref="DescriptorRing"/> and <see cref="InterruptPage"/> declare, the
/// header's rows tile it without gaps, and the creator's placement matches the doc's worked examples.
/// </summary>
public sealed partial class WindowLayoutDocTests
{
    /// <summary>A table row: offset (from the table's start), size in bytes (null when it is a capacity), field text.</summary>
    private sealed record Row(int Offset, int? Size, string Field);

    [GeneratedRegex(@"^\|\s*\+?(\d+)\s*\|\s*([^|]+?)\s*\|[^|]*\|\s*([^|]+?)\s*\|")]
    private static partial Regex RowPattern();

    [GeneratedRegex(@"^\|\s*(\d+)-(\d+)\s*\|")]
    private static partial Regex RangePattern();

    private static readonly Lazy<Dictionary<string, List<Row>>> s_tables = new(ParseDoc);

    private static string DocPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "docs", "window-layout.md");
            if (File.Exists(path))
            {
                return path;
            }
        }
        throw new FileNotFoundException("docs/window-layout.md was not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Rows of every table, keyed by the heading or lead-in sentence ("Side block *s*") above it.</summary>
    private static Dictionary<string, List<Row>> ParseDoc()
    {
        var tables = new Dictionary<string, List<Row>>();
        var context = "";
        foreach (var line in File.ReadLines(DocPath()))
        {
            if (line.StartsWith('#') || line.StartsWith("Ring table entry", StringComparison.Ordinal)
                || line.StartsWith("Interrupt table entry", StringComparison.Ordinal) || line.StartsWith("Side block", StringComparison.Ordinal))
            {
                context = line.TrimStart('#', ' ');
                continue;
            }
            var match = RowPattern().Match(line);
            if (!match.Success || RangePattern().IsMatch(line))
            {
                continue; // header rows, separators and padding ranges ("8-127")
            }
            var size = int.TryParse(match.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : (int?)null;
            var rows = tables.TryGetValue(context, out var list) ? list : tables[context] = [];
            rows.Add(new Row(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), size, match.Groups[3].Value));
        }
        return tables;
    }

    private static List<Row> Table(string headingStart)
    {
        var key = s_tables.Value.Keys.SingleOrDefault(k => k.StartsWith(headingStart, StringComparison.Ordinal));
        Assert.True(key is not null, $"docs/window-layout.md has no table under a heading starting \"{headingStart}\"");
        return s_tables.Value[key];
    }

    /// <summary>
    /// Every row of the table is a declared field (or reserved), and every declared field is a row, at the same
    /// offset and with the same size.
    /// </summary>
    private static void AssertTable(string heading, params (string FieldStart, int Offset, int? Size)[] declared)
    {
        var rows = Table(heading);
        foreach (var row in rows.Where(r => !r.Field.StartsWith("reserved", StringComparison.Ordinal)))
        {
            var match = declared.Where(d => row.Field.StartsWith(d.FieldStart, StringComparison.Ordinal)).ToList();
            Assert.True(match.Count == 1, $"{heading}: the doc's field \"{row.Field}\" at +{row.Offset} is not declared once in the code's layout");
            Assert.True(match[0].Offset == row.Offset, $"{heading}: \"{row.Field}\" is at {row.Offset} in the doc but {match[0].Offset} in the code");
            if (match[0].Size is { } size)
            {
                Assert.True(size == row.Size, $"{heading}: \"{row.Field}\" is {row.Size} bytes in the doc but {size} in the code");
            }
        }
        foreach (var field in declared)
        {
            Assert.True(rows.Any(r => r.Field.StartsWith(field.FieldStart, StringComparison.Ordinal)), $"{heading}: the code declares \"{field.FieldStart}\" but the doc does not");
        }
    }

    [Fact]
    public void Window_header_rows_are_WindowLayout_and_tile_the_header()
    {
        AssertTable("1. Window header",
            ("magic", WindowLayout.MagicOffset, sizeof(ulong)),
            ("layout version", WindowLayout.VersionOffset, sizeof(uint)),
            ("header size", WindowLayout.HeaderSizeOffset, sizeof(uint)),
            ("total size", WindowLayout.TotalSizeOffset, sizeof(long)),
            ("ring count", WindowLayout.RingCountOffset, sizeof(uint)),
            ("side count", WindowLayout.SideCountOffset, sizeof(uint)),
            ("ring table entry 0", WindowLayout.RingEntry(0), WindowLayout.TableEntrySize),
            ("ring table entry 1", WindowLayout.RingEntry(1), WindowLayout.TableEntrySize),
            ("interrupt table entry 0", WindowLayout.InterruptEntry(0), WindowLayout.TableEntrySize),
            ("interrupt table entry 1", WindowLayout.InterruptEntry(1), WindowLayout.TableEntrySize),
            ("group mask", WindowLayout.GroupMaskOffset, sizeof(uint)),
            ("side block 0", WindowLayout.SideBlock(0), WindowLayout.SideBlockSize),
            ("side block 1", WindowLayout.SideBlock(1), WindowLayout.SideBlockSize));
        var rows = Table("1. Window header");
        var end = 0;
        foreach (var row in rows)
        {
            Assert.True(row.Offset == end, $"the header's rows leave a gap or overlap at {end} (next row \"{row.Field}\" at {row.Offset})");
            end = row.Offset + row.Size!.Value;
        }
        Assert.Equal(WindowLayout.HeaderSize, end);
        Assert.Equal(SharedWindow.HeaderSize, end);
    }

    [Fact]
    public void Table_entries_and_side_blocks_are_WindowLayout()
    {
        AssertTable("Ring table entry",
            ("offset of ring", WindowLayout.RingEntryOffset, sizeof(long)),
            ("capacity", WindowLayout.RingEntryCapacity, sizeof(int)));
        AssertTable("Interrupt table entry",
            ("offset of interrupt block", WindowLayout.InterruptEntryOffset, sizeof(long)),
            ("vector count", WindowLayout.InterruptEntryVectorCount, sizeof(int)),
            ("vector:", WindowLayout.InterruptEntryVector, sizeof(int)));
        AssertTable("Side block",
            ("state", WindowLayout.SideStateOffset, sizeof(int)),
            ("epoch", WindowLayout.SideEpochOffset, sizeof(int)),
            ("pid", WindowLayout.SidePidOffset, sizeof(int)),
            ("close reason", WindowLayout.SideCloseReasonOffset, sizeof(int)),
            ("heartbeat", WindowLayout.SideHeartbeatOffset, sizeof(long)));
    }

    [Fact]
    public void Ring_control_lines_and_interrupt_block_are_the_code_constants()
    {
        AssertTable("2. Descriptor ring",
            ("tail", DescriptorRing.TailOffset, sizeof(long)),
            ("head", DescriptorRing.HeadOffset, sizeof(long)),
            ("armed", DescriptorRing.ArmedOffset, sizeof(int)),
            ("reader fence", DescriptorRing.ReaderFenceOffset, sizeof(int)),
            ("room armed", DescriptorRing.RoomArmedOffset, sizeof(int)),
            ("writer cleans", DescriptorRing.WriterCleansOffset, sizeof(int)),
            ("data area", DescriptorRing.DataOffset, null));
        AssertTable("4.1 Layout",
            ("magic", InterruptPage.MagicOffset, sizeof(uint)),
            ("version", InterruptPage.VersionOffset, sizeof(uint)),
            ("vector count", InterruptPage.VectorCountOffset, sizeof(uint)),
            ("seq", InterruptPage.SeqOffset, sizeof(int)),
            ("sleeping", InterruptPage.SleepingOffset, sizeof(int)),
            ("raised-at", InterruptPage.RaisedAtOffset, sizeof(long)),
            ("summary", InterruptPage.SummaryOffset, sizeof(ulong)),
            ("pending bitmap", InterruptPage.PendingOffset, null));
    }

    [Theory]
    [InlineData(1 << 20, 1056768, 2109440)]
    [InlineData(64 * 1024, 73728, 143360)]
    public void The_creator_places_regions_as_the_doc_s_examples(int capacity, long ring1, long total)
    {
        var plan = WindowLayout.Plan(capacity, capacity, InterruptPage.SizeFor(SharedWindow.EmbeddedVectorCount));
        Assert.Equal(512, plan.InterruptBlock0);
        Assert.Equal(1152, plan.InterruptBlock1);
        Assert.Equal(4096, plan.Ring0);
        Assert.Equal(ring1, plan.Ring1);
        Assert.Equal(total, plan.Total);
        var doc = File.ReadAllText(DocPath());
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"ring1 = {ring1}"), doc, StringComparison.Ordinal);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"total = {total}"), doc, StringComparison.Ordinal);
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(capacity));
        Assert.Equal(total, window.Size);
        Assert.Equal(ring1, window.GetRing(1).Offset);
    }
}
