using System.Text;

namespace IIC.Perf.Results;

/// <summary>A plain-text table: left-aligned text columns, right-aligned number columns, and note rows whose text runs past the columns.</summary>
internal sealed class TextTable(params (string Header, bool RightAligned)[] columns)
{
    private readonly List<(string[] Cells, string? Note)> _rows = [];

    public void Add(params string[] cells) => _rows.Add((cells, null));

    /// <summary>A row with the first cells filled and a note in place of the rest (unavailable, failed).</summary>
    public void AddNote(string note, params string[] leadingCells) => _rows.Add((leadingCells, note));

    public void Write(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var widths = columns.Select(c => c.Header.Length).ToArray();
        foreach (var (cells, _) in _rows)
        {
            for (var i = 0; i < cells.Length && i < widths.Length; i++)
            {
                widths[i] = Math.Max(widths[i], cells[i].Length);
            }
        }
        writer.WriteLine(Line(columns.Select(c => c.Header).ToArray(), null, widths));
        writer.WriteLine(new string('-', widths.Sum() + (2 * (widths.Length - 1))));
        foreach (var (cells, note) in _rows)
        {
            writer.WriteLine(Line(cells, note, widths));
        }
    }

    private string Line(string[] cells, string? note, int[] widths)
    {
        var line = new StringBuilder();
        for (var i = 0; i < cells.Length && i < widths.Length; i++)
        {
            if (i > 0)
            {
                line.Append("  ");
            }
            line.Append(columns[i].RightAligned ? cells[i].PadLeft(widths[i]) : cells[i].PadRight(widths[i]));
        }
        if (note is not null)
        {
            line.Append("  ").Append(note);
        }
        return line.ToString().TrimEnd();
    }
}
